"""The paper's claims, each checked against the runs with the numbers behind the verdict.

Verdicts are deliberately conservative: a slope whose 95 % CI includes 0 is not evidence of a power
law; |b1| > |b2| counts only if the CI of |b1| - |b2| excludes 0; a claim the runs cannot speak to
says why ("not testable: ...") instead of guessing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from florenz.scaling.fit import LogLinearFit, fit_loglinear
from florenz.scaling.laws import Laws, compute_law, fit_runs, multivariate_law
from florenz.scaling.table import GROUPS

SUPPORTED, NOT_SUPPORTED = "supported", "not supported"
MIN_RUNS = 3
MIN_PAIRS = 3  # a paired t-test on 2 pairs has 1 degree of freedom: too weak to count against a claim


@dataclass
class Claim:
    """One claim of the paper, its verdict and the evidence (text + numbers)."""

    id: str
    statement: str
    verdict: str
    evidence: str
    numbers: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _untestable(why: str) -> str:
    return f"not testable ({why})"


def _fmt(p: dict) -> str:
    return f"{p['value']:.3f} [{p['ci_low']:.3f}, {p['ci_high']:.3f}]"


def power_law_claim(runs: pd.DataFrame, group: str, laws: Laws | None = None) -> Claim:
    law = laws.get(group, "compute") if laws else None
    law = law or compute_law(runs, group)
    stmt = f"{group} cross-entropy follows a power law in compute (frontier slope a1 < 0)"
    if not isinstance(law.fit, LogLinearFit):
        return Claim(f"power_law_{group}", stmt, _untestable(law.reason or f"{law.n} points"), law.reason)
    a1 = law.fit.param("C")
    nums = {"a1": a1, "r2": law.fit.r2, "n_frontier": law.n}
    ev = f"a1 = {_fmt(a1)} (95% CI), p = {a1['p']:.2g}, R² = {law.fit.r2:.3f}, {law.n} frontier points"
    if law.n < 3 or not np.isfinite(a1["ci_high"]):
        return Claim(f"power_law_{group}", stmt, _untestable(f"{law.n} points"), ev, nums)
    ok = a1["ci_high"] < 0
    if not ok:
        ev += "; the CI does not exclude 0" if a1["ci_low"] <= 0 <= a1["ci_high"] else "; slope is positive"
    return Claim(f"power_law_{group}", stmt, SUPPORTED if ok else NOT_SUPPORTED, ev, nums)


def size_over_samples_claim(runs: pd.DataFrame, laws: Laws | None = None) -> Claim:
    law = laws.get("UC", "multivariate") if laws else None
    law = law or multivariate_law(runs, "UC")
    stmt = "For unseen-language captioning (UC), model size matters more than samples (|b1| > |b2|)"
    if not isinstance(law.fit, LogLinearFit):
        return Claim("uc_size_over_samples", stmt, _untestable(law.reason), law.reason)
    fit = law.fit
    b1, b2 = fit.param("P"), fit.param("S")
    c = np.zeros(len(fit.coef))
    c[fit.names.index("P")] = np.sign(b1["value"])
    c[fit.names.index("S")] = -np.sign(b2["value"])
    diff = fit.contrast(c)
    nums = {"b1": b1, "b2": b2, "abs_b1_minus_abs_b2": diff, "r2": fit.r2, "n": fit.n}
    ev = (f"b1 (P) = {_fmt(b1)}, b2 (S) = {_fmt(b2)}, |b1| - |b2| = {_fmt(diff)}, "
          f"R² = {fit.r2:.3f}, n = {fit.n}")
    if not np.isfinite(diff["ci_low"]):
        return Claim("uc_size_over_samples", stmt, _untestable(f"{fit.n} runs"), ev, nums)
    ok = diff["ci_low"] > 0
    if not ok:
        ev += "; CI of the difference includes 0" if diff["ci_high"] > 0 else "; samples matter more"
    return Claim("uc_size_over_samples", stmt, SUPPORTED if ok else NOT_SUPPORTED, ev, nums)


def _pair(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    cols = [f"{metric}_prefix", f"{metric}_no_prefix"]
    if not all(c in runs for c in cols):
        return pd.DataFrame(columns=cols)
    return runs.dropna(subset=cols)[cols + ["C", "T"]]


def prefix_claim(runs: pd.DataFrame, threshold: float = 50.0) -> Claim:
    """Unseen-language captions appear only with the prefix: fidelity (in %) is high with it, low without."""
    stmt = ("Captioning in unseen languages appears only with the language prefix "
            f"(fidelity with prefix > without, paired; without-prefix fidelity < {threshold})")
    d = _pair(runs, "uc_fidelity")
    if len(d) < MIN_RUNS:
        return Claim("uc_prefix_needed", stmt, _untestable(f"{len(d)} scored runs with both modes"), "")
    w, wo = d["uc_fidelity_prefix"].to_numpy(float), d["uc_fidelity_no_prefix"].to_numpy(float)
    t = paired_test(w, wo)
    p = t["p"]
    nums = {"fidelity_prefix_mean": float(w.mean()), "fidelity_no_prefix_mean": float(wo.mean()),
            "p_paired_t": p, "n": len(d), "diff_ci": [t["ci_low"], t["ci_high"]]}
    acc = _pair(runs, "uc_attribute_accuracy")
    if len(acc):
        nums["attribute_accuracy_prefix_mean"] = float(acc["uc_attribute_accuracy_prefix"].mean())
        nums["attribute_accuracy_no_prefix_mean"] = float(acc["uc_attribute_accuracy_no_prefix"].mean())
    ev = (f"fidelity with prefix {w.mean():.1f} % vs without {wo.mean():.1f} % over {len(d)} runs "
          f"(paired one-sided t-test p = {p:.2g})")
    if "attribute_accuracy_prefix_mean" in nums:
        ev += (f"; attribute accuracy {nums['attribute_accuracy_prefix_mean']:.1f} % vs "
               f"{nums['attribute_accuracy_no_prefix_mean']:.1f} %")
    ok = p < 0.05 and wo.mean() < threshold
    return Claim("uc_prefix_needed", stmt, SUPPORTED if ok else NOT_SUPPORTED, ev, nums)


def grows_with_t_claim(runs: pd.DataFrame, metric: str = "uc_attribute_accuracy_prefix",
                       claim_id: str = "uc_grows_with_T") -> Claim:
    """Unseen-language caption quality grows with T at fixed compute.

    Runs that differ only in T (same preset, budget and seed: same compute) are compared pairwise, highest vs
    lowest T, with a one-sided paired t-test; this keeps runs whose metric is 0 (log fits cannot). Without such
    pairs: log10 q = c0 + c1 log10 C + c2 log10 T on the runs with q > 0."""
    stmt = f"Unseen-language caption quality ({metric}) grows with decoder multilinguality T (at fixed compute)"
    if metric not in runs:
        return Claim(claim_id, stmt, _untestable(f"no {metric} in scores"), "")
    d = runs.dropna(subset=[metric, "T"])
    if d["T"].nunique() < 2:
        return Claim(claim_id, stmt, _untestable(f"{d['T'].nunique()} distinct T"), "")
    keys = [k for k in ("preset", "S", "seed") if k in d]
    pairs = [(g.loc[g["T"].idxmax(), metric], g.loc[g["T"].idxmin(), metric])
             for _, g in d.groupby(keys) if g["T"].nunique() > 1] if keys else []
    if 0 < len(pairs) < MIN_PAIRS:  # e.g. one seed's runs alone: across_seeds judges it by its effect
        return Claim(claim_id, stmt, _untestable(f"{len(pairs)} pairs of runs equal but for T (a paired test needs "
                                                 f"{MIN_PAIRS})"), "")
    if pairs:
        hi, lo = np.array(pairs, dtype=float).T
        t = paired_test(hi, lo)
        p = t["p"]
        nums = {"mean_high_T": float(hi.mean()), "mean_low_T": float(lo.mean()), "p_paired_t": p, "n_pairs": len(pairs),
                "diff_ci": [t["ci_low"], t["ci_high"]]}
        ev = (f"{metric}: {hi.mean():.2f} at the highest T vs {lo.mean():.2f} at the lowest, difference "
              f"{t['mean_diff']:.2f} [{t['ci_low']:.2f}, {t['ci_high']:.2f}], {len(pairs)} pairs of "
              f"runs equal but for T (paired one-sided t-test p = {p:.2g})")
        return Claim(claim_id, stmt, SUPPORTED if p < 0.05 else NOT_SUPPORTED, ev, nums)
    d = d[(d[metric] > 0) & (d["T"] > 0)]
    x = {"T": d["T"].to_numpy(float)}
    if d["C"].nunique() > 1:
        x = {"C": d["C"].to_numpy(float), **x}
    if len(d) < len(x) + 2 or d["T"].nunique() < 2:
        return Claim(claim_id, stmt, _untestable(f"{len(d)} runs with {metric} > 0"), "")
    fit = fit_loglinear(x, d[metric].to_numpy(float))
    c2 = fit.param("T")
    nums = {"c_T": c2, "r2": fit.r2, "n": fit.n}
    ev = f"elasticity of {metric} in T = {_fmt(c2)} (controls: {', '.join(x)}), n = {fit.n}"
    ok = c2["ci_low"] > 0
    if not ok:
        ev += "; CI includes 0" if c2["ci_high"] > 0 else "; quality falls with T"
    return Claim(claim_id, stmt, SUPPORTED if ok else NOT_SUPPORTED, ev, nums)


def paired_test(hi: np.ndarray, lo: np.ndarray) -> dict:
    """One-sided paired t-test of hi > lo, with the mean difference and its 95 % t-interval."""
    diff = np.asarray(hi, float) - np.asarray(lo, float)
    mean = float(diff.mean())
    if len(diff) < 2 or np.allclose(diff, diff[0]):
        p = 0.0 if mean > 0 and len(diff) >= 2 else 1.0
        return {"mean_diff": mean, "ci_low": mean, "ci_high": mean, "p": p, "n": len(diff)}
    half = float(stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff)))
    p = float(stats.ttest_rel(hi, lo, alternative="greater").pvalue)
    return {"mean_diff": mean, "ci_low": mean - half, "ci_high": mean + half, "p": p, "n": len(diff)}


def at_highest_t(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose decoder saw the most languages in the table (all runs when T is not recorded)."""
    if "T" not in runs or runs["T"].isna().all():
        return runs
    return runs[runs["T"] == runs["T"].max()]


def grounded_claim(runs: pd.DataFrame, group: str = "uc", mode: str = "prefix") -> Claim:
    """Captions come from the image: attribute accuracy above its image-shuffled control (same model, same
    prompts, each image swapped for another held-out one), paired over runs.

    UC grounding is judged on the runs at the highest T: a decoder pre-trained without the unseen languages (the
    T contrast's low-T arm) does not write captions in them at all (accuracy ~0 with and without the image), so
    its runs would test the T contrast again, not whether UC captions come from the image."""
    name = {"uc": "UC captions (unseen languages)", "sc": "SC captions (seen languages)"}[group]
    stmt = f"{name} are grounded in the image (attribute accuracy {mode.replace('_', ' ')} > image-shuffled control"
    stmt += ", runs at the highest T)" if group == "uc" else ")"
    real, shuf = f"{group}_attribute_accuracy_{mode}", f"{group}_attribute_accuracy_{mode}_shuffled"
    cid = f"{group}_grounded"
    if real not in runs or shuf not in runs:
        return Claim(cid, stmt, _untestable(f"no {shuf} in scores (evaluate with eval.shuffled_control)"), "")
    d = (at_highest_t(runs) if group == "uc" else runs).dropna(subset=[real, shuf])
    if len(d) < MIN_RUNS:
        return Claim(cid, stmt, _untestable(f"{len(d)} runs with the shuffled control"), "")
    a, b = d[real].to_numpy(float), d[shuf].to_numpy(float)
    t = paired_test(a, b)
    ratio = float(a.mean() / b.mean()) if b.mean() > 0 else float("inf")
    nums = {"accuracy_mean": float(a.mean()), "shuffled_mean": float(b.mean()), "ratio_of_means": ratio, **t}
    ev = (f"attribute accuracy {a.mean():.1f} % vs {b.mean():.1f} % with shuffled images (x{ratio:.2f}); "
          f"difference {t['mean_diff']:.1f} [{t['ci_low']:.1f}, {t['ci_high']:.1f}] points over {len(d)} runs "
          f"(paired one-sided t-test p = {t['p']:.2g})")
    return Claim(cid, stmt, SUPPORTED if t["p"] < 0.05 and t["ci_low"] > 0 else NOT_SUPPORTED, ev, nums)


def across_seeds(runs: pd.DataFrame, judge, effect=None) -> Claim:
    """`judge(runs) -> Claim` on all runs and on each seed's runs alone: "supported" only when it holds on the
    pooled runs *and* on every seed (a verdict one seed carries is not a finding). A seed too small to be judged
    alone counts as holding when `effect(its runs)` (the claimed difference, e.g. a mean paired gap) is > 0; without
    `effect` it does not count against the claim. One seed: the pooled verdict."""
    pooled = judge(runs)
    if "seed" not in runs or runs["seed"].nunique() < 2:
        return pooled
    per_seed, effects = {}, {}
    for k, g in runs.groupby("seed"):
        v = judge(g).verdict
        e = effect(g) if effect is not None else None
        if v.startswith("not testable") and e is not None and np.isfinite(e):
            effects[int(k)] = round(float(e), 4)
            v = SUPPORTED if e > 0 else NOT_SUPPORTED
        per_seed[int(k)] = v
    held = sum(v == SUPPORTED for v in per_seed.values())
    failed = sum(v.startswith(NOT_SUPPORTED) for v in per_seed.values())
    pooled.numbers = {**pooled.numbers, "per_seed": per_seed, "seeds_supported": held, "seeds": len(per_seed)}
    if effects:
        pooled.numbers["per_seed_effect"] = effects
    pooled.evidence += f"; holds on {held} of {len(per_seed)} seeds alone"
    if effects:
        pooled.evidence += " (per-seed difference " + ", ".join(f"seed {k}: {v:.3g}" for k, v in effects.items()) + ")"
    if pooled.verdict == SUPPORTED and failed:
        pooled.verdict = f"{NOT_SUPPORTED} (holds pooled, but on only {held} of {len(per_seed)} seeds)"
    return pooled


def _gap(hi: str, lo: str, select=None):
    """Mean of hi - lo over the runs that have both (a per-seed effect for `across_seeds`; `select` picks the runs
    the claim is about, as its judge does)."""
    def effect(d: pd.DataFrame) -> float | None:
        if hi not in d or lo not in d:
            return None
        x = (select(d) if select is not None else d).dropna(subset=[hi, lo])
        return float((x[hi] - x[lo]).mean()) if len(x) else None
    return effect


def _t_gap(metric: str):
    """Mean over (preset, S) pairs of metric at the highest T minus at the lowest (per-seed T effect)."""
    def effect(d: pd.DataFrame) -> float | None:
        if metric not in d:
            return None
        x = d.dropna(subset=[metric, "T"])
        gaps = [g.loc[g["T"].idxmax(), metric] - g.loc[g["T"].idxmin(), metric]
                for _, g in x.groupby([k for k in ("preset", "S") if k in x]) if g["T"].nunique() > 1]
        return float(np.mean(gaps)) if gaps else None
    return effect


def check_claims(runs: pd.DataFrame, laws: Laws | None = None) -> list[Claim]:
    """All claims for a runs table (the `runs` DataFrame of florenz.scaling.table.load_runs), each judged over
    seeds (`across_seeds`); `laws` (fitted on all runs) serve the pooled verdicts."""
    laws = laws or fit_runs(runs, chinchilla=False)

    def law_judge(fn, *args):
        return lambda d: fn(d, *args, laws) if len(d) == len(runs) else fn(d, *args)

    judges = [(law_judge(power_law_claim, g), None) for g in GROUPS]
    judges += [(law_judge(size_over_samples_claim), None),
               (prefix_claim, _gap("uc_fidelity_prefix", "uc_fidelity_no_prefix")),
               (grows_with_t_claim, _t_gap("uc_attribute_accuracy_prefix")),
               (lambda d: grows_with_t_claim(d, "uc_fidelity_prefix", "uc_fidelity_grows_with_T"),
                _t_gap("uc_fidelity_prefix")),
               (grounded_claim, _gap("uc_attribute_accuracy_prefix", "uc_attribute_accuracy_prefix_shuffled",
                                     at_highest_t)),
               (lambda d: grounded_claim(d, "sc"),
                _gap("sc_attribute_accuracy_prefix", "sc_attribute_accuracy_prefix_shuffled"))]
    return [across_seeds(runs, j, e) for j, e in judges]


def headline_findings(claims: list[Claim], laws: Laws | None = None, n_runs: int | None = None,
                      n_without_scores: int = 0) -> list[str]:
    """Short lines for a terminal or the top of the report: one per claim, plus bookkeeping."""
    lines = []
    if n_runs is not None:
        lines.append(f"{n_runs} runs, {n_without_scores} without scores.json (skipped for fits)")
    for c in claims:
        lines.append(f"[{c.verdict}] {c.statement}" + (f" — {c.evidence}" if c.evidence else ""))
    if laws is not None:
        for law in laws.laws:
            if law.extrapolation is not None:
                lines.append(f"leave-largest-out {law.group}/{law.kind}: mean |rel. error| "
                             f"{law.extrapolation['mean_abs_rel_error']:.1%} on {law.extrapolation['held_out']} runs")
    return lines
