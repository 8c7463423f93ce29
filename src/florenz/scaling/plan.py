"""`florenz plan`: how big a model and how much data reach a target cross-entropy, or the best CE a compute
budget buys, with confidence (CI) and prediction (PI) intervals, and the compute-optimal frontier.

A plan needs a law y(P, S) with intervals and the cost of a (P, S) pair, C = S * F * (1 + Pt/P) with F the
FLOPs per sample. F and Pt/P scale with the model, so the cost model is F = k * P and Pt = r * P, k and r
taken from the runs (their medians) or given with published coefficients. The paper's multiplicative law
log10 y = b0 + b1 log10 P + b2 log10 S (+ b3 log10 T) has no interior compute optimum (log C is linear in
log P along a level set), so plans are made over candidate model sizes: the sizes that were trained, or
the ones the user can build (`--sizes`); the Chinchilla form is planned the same way.

Inversion is numeric on a fine log-S grid (0.005 decades, exact for a log-linear law up to interpolation
in log space), because the CI/PI bands are not themselves of the law's form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from florenz.errors import FlorenzError
from florenz.scaling.chinchilla import ChinchillaFit
from florenz.scaling.fit import LogLinearFit

BANDS = ("mean", "ci_low", "ci_high", "pi_low", "pi_high")
LOG_S_GRID = np.arange(-6.0, 18.0 + 1e-9, 0.005)  # 1e-6 .. 1e18 samples (S < 1: the target is trivial)


@dataclass
class PlanLaw:
    """A law y(P, S) with bands, and the cost model C = S * k * P * (1 + r)."""

    name: str  # e.g. "UC multivariate (runs/)" or the source of published coefficients
    bands: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]
    flops_per_param_sample: float  # k = F / P
    trainable_share: float  # r = Pt / P
    sizes: list[float]  # candidate P
    fitted_range: dict[str, tuple[float, float]] | None = None  # P and S spanned by the runs, when known

    def outside(self, p: float, s: float) -> bool:
        """True when (P, S) lies outside what the law was fitted on: an extrapolation, say so."""
        if not self.fitted_range or not np.isfinite(s):
            return False
        (p0, p1), (s0, s1) = self.fitted_range["P"], self.fitted_range["S"]
        return not (p0 <= p <= p1 and s0 <= s <= s1)

    def compute(self, p, s) -> np.ndarray:
        return np.asarray(s, float) * self.flops_per_param_sample * np.asarray(p, float) * (1 + self.trainable_share)


def loglinear_bands(fit: LogLinearFit, fixed: dict[str, float]) -> Callable:
    """y bands of a log-linear law in (P, S), other regressors (T) held at `fixed` values."""
    cols = fit.names[1:]
    missing = [c for c in cols if c not in ("P", "S") and c not in fixed]
    if missing or "P" not in cols or "S" not in cols:
        raise FlorenzError(f"plan: the law's regressors are {cols}; it needs P and S (and a value for {missing})")

    def bands(p, s):
        p, s = np.broadcast_arrays(np.asarray(p, float), np.asarray(s, float))
        x = np.column_stack([p.ravel() if c == "P" else s.ravel() if c == "S" else np.full(p.size, fixed[c])
                             for c in cols])
        with np.errstate(invalid="ignore"):
            return {k: v.reshape(p.shape) for k, v in fit.predict(x).items()}

    return bands


def chinchilla_bands(fit: ChinchillaFit) -> Callable:
    def bands(p, s):
        p, s = np.broadcast_arrays(np.asarray(p, float), np.asarray(s, float))
        out = fit.interval(p.ravel(), s.ravel())
        return {k: np.asarray(v).reshape(p.shape) for k, v in out.items()}

    return bands


def _samples_for(law: PlanLaw, p: float, target: float) -> dict[str, float]:
    """S at which each band crosses `target` (mean: the S needed; ci_high/pi_high: the conservative S)."""
    s = 10.0**LOG_S_GRID
    b = law.bands(np.full_like(s, p), s)
    out = {}
    for k in BANDS:
        y = np.asarray(b[k], float)
        ok = np.isfinite(y)
        below = np.flatnonzero(ok & (y <= target))
        if not ok.any() or not len(below):
            out[k] = float("nan") if not ok.any() else float("inf")
            continue
        i = below[0]
        if i == 0:
            out[k] = float(s[0])
            continue
        # interpolate log S linearly in log y between the last point above and the first at/below target
        ly0, ly1 = np.log(y[i - 1]), np.log(y[i])
        t = (ly0 - np.log(target)) / (ly0 - ly1) if ly0 != ly1 else 0.0
        out[k] = float(10 ** (LOG_S_GRID[i - 1] + t * (LOG_S_GRID[i] - LOG_S_GRID[i - 1])))
    return out


def plan_target(law: PlanLaw, target: float) -> dict:
    """Per candidate size: the samples S and compute C that reach CE `target`, with the band-derived ranges."""
    if not (np.isfinite(target) and target > 0):
        raise FlorenzError(f"--target-ce must be a positive number, got {target}")
    rows = []
    for p in law.sizes:
        s = _samples_for(law, p, target)
        row = {"P": p, "S": s["mean"], "C": float(law.compute(p, s["mean"])),
               # the upper end of the CI of the mean reaches the target later: that S is the conservative one
               "S_ci": [s["ci_low"], s["ci_high"]], "S_pi": [s["pi_low"], s["pi_high"]]}
        row["extrapolated"] = law.outside(p, s["mean"])
        row["C_ci"] = [float(law.compute(p, v)) for v in row["S_ci"]]
        row["C_pi"] = [float(law.compute(p, v)) for v in row["S_pi"]]
        rows.append(row)
    reachable = [r for r in rows if np.isfinite(r["C"])]
    best = min(reachable, key=lambda r: r["C"]) if reachable else None
    return {"question": "target", "target_ce": target, "law": law.name, "per_size": rows, "best": best}


def plan_budget(law: PlanLaw, compute: float) -> dict:
    """Per candidate size: the CE (with CI/PI) that spending `compute` FLOPs on it buys; best = lowest mean CE."""
    if not (np.isfinite(compute) and compute > 0):
        raise FlorenzError(f"--compute must be a positive number of FLOPs, got {compute}")
    rows = []
    for p in law.sizes:
        s = compute / (law.flops_per_param_sample * p * (1 + law.trainable_share))
        b = law.bands(np.array([p]), np.array([s]))
        rows.append({"P": p, "S": float(s), **{k: float(np.asarray(b[k]).ravel()[0]) for k in BANDS},
                     "extrapolated": law.outside(p, s)})
    best = min(rows, key=lambda r: r["mean"]) if rows else None
    return {"question": "budget", "compute": compute, "law": law.name, "per_size": rows, "best": best}


def frontier(law: PlanLaw, c_min: float, c_max: float, n: int = 60) -> list[dict]:
    """The compute-optimal frontier over the candidate sizes: for each C, the size with the lowest mean CE."""
    out = []
    for c in np.logspace(np.log10(c_min), np.log10(c_max), n):
        b = plan_budget(law, float(c))["best"]
        out.append({"C": float(c), "P": b["P"], "S": b["S"], **{k: b[k] for k in BANDS}})
    return out


def parse_sizes(text: str) -> list[float]:
    try:
        sizes = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise FlorenzError(f"--sizes: expected comma-separated numbers of parameters, got {text!r}") from None
    if not sizes or not all(np.isfinite(v) and v > 0 for v in sizes):
        raise FlorenzError(f"--sizes: expected positive numbers, got {text!r}")
    return sorted(set(sizes))


def law_from_runs(root, group: str = "UC", kind: str = "multivariate", t: float | None = None,
                  sizes: list[float] | None = None, n_bootstrap: int = 200):
    """A PlanLaw from a sweep directory's fitted law; a law that is not usable is an error saying why."""
    from florenz.scaling.laws import chinchilla_law, multivariate_law
    from florenz.scaling.table import load_runs

    runs = load_runs(root).runs
    law = (multivariate_law(runs, group) if kind == "multivariate"
           else chinchilla_law(runs, group, n_bootstrap=n_bootstrap) if kind == "chinchilla" else None)
    if law is None:
        raise FlorenzError(f"--law: unknown law {kind!r} (choose multivariate or chinchilla)")
    if not law.usable:
        raise FlorenzError(f"plan: the {group} {kind} law of {root} is {law.status}")
    return plan_law(law, runs, t, sizes, where=str(root)), runs[runs[f"ce_{group}"].notna()]


def plan_law(law, runs, t: float | None = None, sizes: list[float] | None = None, where: str = "runs") -> PlanLaw:
    """A PlanLaw from an already fitted, usable `Law` and the runs table it was fitted on."""
    group, kind = law.group, law.kind
    d = runs[runs[f"ce_{group}"].notna()]
    k = float(np.median(d["F"].astype(float) / d["P"].astype(float)))
    r = float(np.median(d["Pt"].astype(float) / d["P"].astype(float)))
    t_fixed = float(t if t is not None else d["T"].max())
    loglinear = isinstance(law.fit, LogLinearFit)
    bands = loglinear_bands(law.fit, {"T": t_fixed}) if loglinear else chinchilla_bands(law.fit)
    name = f"{group} {kind} law fitted to {law.n} runs in {where}"
    if isinstance(law.fit, LogLinearFit) and "T" in law.fit.names:
        name += f" at T = {t_fixed:g}"
    rng = {c: (float(d[c].min()), float(d[c].max())) for c in ("P", "S")}
    return PlanLaw(name, bands, k, r, sizes or sorted(float(v) for v in d["P"].unique()), rng)


def law_from_file(path, t: float | None = None, sizes: list[float] | None = None) -> PlanLaw:
    """A PlanLaw from a coefficients file (published or hand-made); see docs in `florenz plan --help`."""
    from pathlib import Path

    from florenz.io import read_json

    spec = read_json(path)
    where = f"--coefficients {path}"
    if not isinstance(spec, dict) or "form" not in spec or "coef" not in spec:
        raise FlorenzError(f"{where}: expected an object with 'form', 'coef', 'flops_per_param_sample', 'source'")
    try:
        k, r = float(spec["flops_per_param_sample"]), float(spec.get("trainable_share", 1.0))
        coef = {str(n): float(v) for n, v in spec["coef"].items()}
    except (KeyError, TypeError, ValueError) as e:
        raise FlorenzError(f"{where}: bad or missing value ({e})") from None
    cand = sizes or [float(v) for v in spec.get("sizes", [])]
    if not cand:
        raise FlorenzError(f"{where}: no candidate model sizes (give --sizes or a 'sizes' list in the file)")
    source = str(spec.get("source", Path(path).name))
    if spec["form"] == "multivariate":
        names = ["intercept", *[n for n in ("P", "S", "T") if n in coef]]
        if "intercept" not in coef:
            raise FlorenzError(f"{where}: coef needs 'intercept', 'P' and 'S' (log10 form)")
        beta = np.array([coef[n] for n in names])
        dof = int(spec.get("dof", 0))
        cov = np.asarray(spec.get("cov", np.full((len(names), len(names)), np.nan)), float)
        if cov.shape != (len(names), len(names)):
            raise FlorenzError(f"{where}: cov must be {len(names)} x {len(names)} (order {names})")
        fit = LogLinearFit(names=names, coef=beta, cov=cov, sigma=float(spec.get("sigma_log10", np.nan)),
                           n=dof + len(names), r2=float("nan"))
        fixed = {"T": float(t if t is not None else spec.get("T", np.nan))}
        if "T" in names and not np.isfinite(fixed["T"]):
            raise FlorenzError(f"{where}: the law has a T term; give --T")
        return PlanLaw(f"{spec.get('group', 'UC')} multivariate law from {source}", loglinear_bands(fit, fixed), k, r,
                       sorted(cand))
    if spec["form"] == "chinchilla":
        need = ("E", "A", "B", "alpha", "beta")
        if any(n not in coef for n in need):
            raise FlorenzError(f"{where}: a chinchilla law needs coef {', '.join(need)}")
        nan = (float("nan"), float("nan"))
        fit = ChinchillaFit(params={n: coef[n] for n in need}, ci=dict.fromkeys(need, nan),
                            p_values=dict.fromkeys(need, float("nan")), r2=float("nan"), n=0, loss=float("nan"),
                            fit_seconds=0.0, bootstrap_seconds=0.0, n_bootstrap=0, starts_refined=0)
        return PlanLaw(f"{spec.get('group', 'UC')} chinchilla law from {source}", chinchilla_bands(fit), k, r,
                       sorted(cand))
    raise FlorenzError(f"{where}: unknown form {spec['form']!r} (multivariate or chinchilla)")
