"""The paper's laws fitted to a runs table, plus leave-largest-out extrapolation checks.

Per CE group (UC, ST, SC): the compute law on the Pareto frontier, the multivariate law on all scored
runs (with log T when T varies), and the Chinchilla form where there are enough distinct (P, S).
A law that cannot be fitted carries the reason instead of a number, so reports never go silent; a law that
was fitted but is not identifiable (`florenz.scaling.identify`) carries its reasons and is shown as such.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from florenz.errors import FlorenzError
from florenz.scaling.chinchilla import ChinchillaFit, fit_chinchilla
from florenz.scaling.fit import LogLinearFit, fit_loglinear
from florenz.scaling.frontier import pareto_mask
from florenz.scaling.identify import chinchilla_problems, loglinear_problems
from florenz.scaling.table import GROUPS

MIN_POINTS = 3


@dataclass
class Law:
    """One fitted law (or why it was not fitted) and its extrapolation check."""

    group: str
    kind: str  # "compute" | "multivariate" | "chinchilla"
    n: int
    fit: LogLinearFit | ChinchillaFit | None = None
    reason: str = ""
    extrapolation: dict | None = None
    problems: list[str] = field(default_factory=list)  # why a fitted law is not identifiable

    def __post_init__(self) -> None:
        if self.problems:  # an extrapolation check of a law that is not identified checks nothing
            self.extrapolation = None

    @property
    def usable(self) -> bool:
        """Fitted and identifiable: the only laws whose numbers may be read, plotted or planned with."""
        return self.fit is not None and not self.problems

    @property
    def status(self) -> str:
        if self.fit is None:
            return f"not fitted: {self.reason}"
        return f"not identifiable ({'; '.join(self.problems)})" if self.problems else "fitted"

    def to_dict(self) -> dict:
        out = {"group": self.group, "kind": self.kind, "n": self.n}
        if self.fit is None:
            out["not_fitted"] = self.reason
        elif self.problems:  # the raw numbers stay available, under a name nobody mistakes for results
            out["not_identifiable"] = "; ".join(self.problems)
            out["raw_fit"] = self.fit.to_dict()
        else:
            out.update(self.fit.to_dict())
        if self.extrapolation is not None:
            out["leave_largest_out"] = self.extrapolation
        return out


@dataclass
class Laws:
    laws: list[Law] = field(default_factory=list)

    def get(self, group: str, kind: str) -> Law | None:
        return next((law for law in self.laws if law.group == group and law.kind == kind), None)

    def to_dict(self) -> list[dict]:
        return [law.to_dict() for law in self.laws]


def leave_largest_out(
    x: np.ndarray, y: np.ndarray, size: np.ndarray, fit_fn: Callable[[np.ndarray, np.ndarray], object]
) -> dict | None:
    """Refit without the rows of largest `size` and report the relative error of predicting them."""
    top = size == size.max()
    if (~top).sum() < MIN_POINTS + 1 or top.all():
        return None
    try:
        fit = fit_fn(x[~top], y[~top])
    except FlorenzError:
        return None
    pred = np.asarray(fit.predict(x[top])["mean"] if isinstance(fit, LogLinearFit) else fit.predict(*x[top].T))
    rel = (pred - y[top]) / y[top]
    return {
        "held_out": int(top.sum()),
        "held_out_size": float(size.max()),
        "predicted": pred.tolist(),
        "observed": y[top].tolist(),
        "mean_abs_rel_error": float(np.mean(np.abs(rel))),
    }


def compute_law(runs: pd.DataFrame, group: str) -> Law:
    """log10 CE = a0 + a1 log10 C on the frontier points of one group."""
    d = runs[runs[f"ce_{group}"].notna() & (runs[f"ce_{group}"] > 0)]
    if d.empty:
        return Law(group, "compute", 0, reason="no scored runs")
    mask = pareto_mask(d["C"], d[f"ce_{group}"])
    c, y = d["C"].to_numpy(float)[mask], d[f"ce_{group}"].to_numpy(float)[mask]
    if len(y) < MIN_POINTS or len(np.unique(c)) < 2:
        return Law(group, "compute", len(y), reason=f"{len(y)} frontier points (need {MIN_POINTS})")
    try:
        fit = fit_loglinear({"C": c}, y)
    except FlorenzError as e:
        return Law(group, "compute", len(y), reason=str(e))
    ext = leave_largest_out(c[:, None], y, c, lambda xx, yy: fit_loglinear({"C": xx[:, 0]}, yy))
    return Law(group, "compute", len(y), fit=fit, extrapolation=ext, problems=loglinear_problems(fit))


def multivariate_law(runs: pd.DataFrame, group: str) -> Law:
    """log10 CE = b0 + b1 log10 P + b2 log10 S (+ b3 log10 T when T varies) on all scored runs."""
    d = runs[runs[f"ce_{group}"].notna() & (runs[f"ce_{group}"] > 0)]
    cols = ["P", "S"] + (["T"] if d["T"].nunique() > 1 and (d["T"] > 0).all() else [])
    need = len(cols) + 2
    if len(d) < need:
        return Law(group, "multivariate", len(d), reason=f"{len(d)} runs (need {need})")
    varying = [c for c in ("P", "S") if d[c].nunique() > 1]
    if len(varying) < 2:
        return Law(group, "multivariate", len(d), reason="P and S must both vary across runs")
    x, y = d[cols].to_numpy(float), d[f"ce_{group}"].to_numpy(float)
    try:
        fit = fit_loglinear(dict(zip(cols, x.T, strict=True)), y)
    except FlorenzError as e:
        return Law(group, "multivariate", len(d), reason=str(e))
    ext = leave_largest_out(x, y, x[:, 0], lambda xx, yy: fit_loglinear(dict(zip(cols, xx.T, strict=True)), yy))
    return Law(group, "multivariate", len(d), fit=fit, extrapolation=ext, problems=loglinear_problems(fit))


def chinchilla_law(runs: pd.DataFrame, group: str, n_bootstrap: int = 200, seed: int = 0) -> Law:
    """CE = E + A/P^alpha + B/S^beta when there are enough distinct sizes and sample counts."""
    d = runs[runs[f"ce_{group}"].notna() & (runs[f"ce_{group}"] > 0)]
    if len(d) < 8 or d["P"].nunique() < 3 or d["S"].nunique() < 3:
        return Law(group, "chinchilla", len(d), reason=f"{len(d)} runs, {d['P'].nunique()} sizes, "
                   f"{d['S'].nunique()} sample counts (need 8, 3, 3)")
    p, s, y = (d[c].to_numpy(float) for c in ("P", "S", f"ce_{group}"))
    try:
        fit = fit_chinchilla(p, s, y, n_bootstrap=n_bootstrap, seed=seed)
    except FlorenzError as e:
        return Law(group, "chinchilla", len(d), reason=str(e))
    ext = leave_largest_out(np.column_stack([p, s]), y, p,
                            lambda xx, yy: fit_chinchilla(xx[:, 0], xx[:, 1], yy, n_bootstrap=0))
    return Law(group, "chinchilla", len(d), fit=fit, extrapolation=ext, problems=chinchilla_problems(fit, p, s))


def fit_runs(runs: pd.DataFrame, groups=GROUPS, chinchilla: bool = True, n_bootstrap: int = 200) -> Laws:
    """Every law for every group present in the runs table."""
    laws = Laws()
    for g in groups:
        laws.laws.append(compute_law(runs, g))
        laws.laws.append(multivariate_law(runs, g))
        if chinchilla:
            laws.laws.append(chinchilla_law(runs, g, n_bootstrap=n_bootstrap))
    return laws


def law_rows(law: Law) -> list[list[str]]:
    """Table rows of one law (LAW_HEADER columns); an unfitted or non-identifiable law is one row saying why."""
    width = len(LAW_HEADER)
    if not law.usable:
        return [[law.group, law.kind, str(law.n), law.status] + [""] * (width - 4)]
    ext = law.extrapolation
    llo = f"{ext['mean_abs_rel_error']:.1%}" if ext else "n/a"
    rows = []
    if isinstance(law.fit, LogLinearFit):
        for name in law.fit.names:
            p = law.fit.param(name)
            rows.append([law.group, law.kind, str(law.n), name, f"{p['value']:.4g}",
                         f"[{p['ci_low']:.4g}, {p['ci_high']:.4g}]", f"{p['p']:.2g}"])
    elif isinstance(law.fit, ChinchillaFit):
        for name, v in law.fit.params.items():
            lo, hi = law.fit.ci[name]
            rows.append([law.group, law.kind, str(law.n), name, f"{v:.4g}", f"[{lo:.4g}, {hi:.4g}]",
                         f"{law.fit.p_values[name]:.2g}"])
    rows[0] += [f"{law.fit.r2:.3f}", llo]
    return [r + [""] * (width - len(r)) for r in rows]


LAW_HEADER = ["group", "law", "n", "parameter", "estimate", "95% CI", "p", "R² (log)", "leave-largest-out |err|"]


def format_laws(laws: Laws) -> str:
    """Plain-text table of the usable laws, then one line per law left out and why (`--json`: all numbers)."""
    usable = [r for law in laws.laws if law.usable for r in law_rows(law)]
    lines = []
    if usable:
        rows = [LAW_HEADER, *usable]
        widths = [max(len(r[i]) for r in rows) for i in range(len(LAW_HEADER))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    else:
        lines.append("no law could be fitted and identified")
    left = [law for law in laws.laws if not law.usable]
    if left:
        lines.append(f"left out ({len(left)}):")
        lines += [f"  {law.group} {law.kind} (n = {law.n}): {law.status}" for law in left]
    return "\n".join(lines)
