"""When a fitted law cannot be trusted: the checks behind "not identifiable (why)" in `fit` and the report.

A Huber/L-BFGS fit always returns numbers. On too few or too flat runs those numbers can be artefacts:
a term A/P^alpha that has shrunk to nothing (A = 4.5e-09 with alpha = 223 describes the same curve as
A = 0, so neither is determined), an exponent steeper than any law (a step at the smallest size), an
exponent at 0 (the term is a constant that merges with E), E at its bound 0, or bootstrap intervals that
are infinite or collapsed to one value while others move (the parameter never left its start). Such a
law is reported as not identifiable with the reasons, not as results.
"""

from __future__ import annotations

import numpy as np

from florenz.scaling.chinchilla import NAMES, ChinchillaFit
from florenz.scaling.fit import LogLinearFit

NEGLIGIBLE = 1e-4  # a term below this share of the smallest predicted y over the data is ~0 there
MIN_EXPONENT = 1e-3
# Hoffmann et al.'s start grid spans exponents 0..2 and published fits lie near 0.3; beyond this the term is a
# step that acts only at the smallest size, i.e. it fits that size's noise, not a law.
MAX_EXPONENT = 3.0


def loglinear_problems(fit: LogLinearFit) -> list[str]:
    """Reasons an OLS law is not identifiable: no residual degrees of freedom, or non-finite CIs."""
    if fit.dof <= 0:
        return [f"{fit.n} points for {len(fit.coef)} coefficients: no residual degrees of freedom"]
    ci = fit.ci
    bad = [n for n, (lo, hi) in zip(fit.names, ci, strict=True) if not (np.isfinite(lo) and np.isfinite(hi))]
    return [f"non-finite CI for {', '.join(bad)}"] if bad else []


def chinchilla_problems(fit: ChinchillaFit, p, s) -> list[str]:
    """Reasons a Chinchilla fit is not identifiable, judged over the (P, S) it was fitted on."""
    p, s = np.asarray(p, float), np.asarray(s, float)
    v = fit.params
    y_min = float(np.min(fit.predict(p, s)))
    out = []
    for coef, exp_name, x, sym in (("A", "alpha", p, "P"), ("B", "beta", s, "S")):
        with np.errstate(over="ignore"):  # x ** 223 is inf, and the term 0, as it should be
            term = v[coef] / x ** v[exp_name]
        if float(np.max(term)) < NEGLIGIBLE * y_min:
            out.append(f"the {coef}/{sym}^{exp_name} term is ~0 over the runs ({coef} = {v[coef]:.3g}, "
                       f"{exp_name} = {v[exp_name]:.3g}): at its bound 0")
        elif v[exp_name] > MAX_EXPONENT:
            out.append(f"{exp_name} = {v[exp_name]:.3g} is beyond {MAX_EXPONENT:g} (a step at the smallest {sym}, "
                       f"{coef} = {v[coef]:.3g})")
        elif v[exp_name] < MIN_EXPONENT:
            out.append(f"{exp_name} = {v[exp_name]:.3g} is at its bound 0 ({coef}/{sym}^{exp_name} is a constant, "
                       "not separable from E)")
        elif fit.n_bootstrap >= 2 and fit.ci[exp_name][0] < MIN_EXPONENT:
            lo, hi = fit.ci[exp_name]
            out.append(f"the 95% CI of {exp_name} [{lo:.3g}, {hi:.3g}] reaches its bound 0 ({coef}/{sym}^{exp_name} "
                       "may be a constant, not separable from E)")
    if v["E"] < NEGLIGIBLE * y_min:
        out.append(f"E = {v['E']:.3g} is at its bound 0")
    if fit.n_bootstrap >= 2:
        widths = {k: fit.ci[k][1] - fit.ci[k][0] for k in NAMES}
        inf = [k for k in NAMES if not np.isfinite(widths[k])]
        if inf:
            out.append(f"infinite bootstrap CI for {', '.join(inf)}")
        flat = [k for k in NAMES if np.isfinite(widths[k]) and widths[k] <= 1e-9 * max(abs(v[k]), 1e-300)]
        exact = float(np.max(np.abs(fit.residuals))) < 1e-9 if len(fit.residuals) else True
        if flat and not exact:  # an exact fit to noise-free data legitimately has zero-width intervals
            out.append(f"collapsed (zero-width) bootstrap CI for {', '.join(flat)}")
    return out
