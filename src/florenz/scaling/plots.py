"""The paper's figures as PNGs (matplotlib Agg): Fig. 3 (CE vs compute), Fig. 4 (CE vs P with bands),
Fig. 5 (unseen-language quality with vs without prefix) and the micro world's quality vs compute per T.
Each function returns the written path, or None when the table has nothing to draw (said by caller).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from florenz.fonts import use_cjk_font  # noqa: E402
from florenz.scaling.fit import LogLinearFit  # noqa: E402
from florenz.scaling.frontier import pareto_mask  # noqa: E402
from florenz.scaling.laws import Laws  # noqa: E402
from florenz.scaling.table import GROUPS  # noqa: E402

use_cjk_font()  # every figure can show Chinese text (gallery, labels) as glyphs, not boxes


def _save(fig, path: Path) -> Path:
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    for ax in fig.axes:  # log axes spanning < 1 decade otherwise print overlapping minor labels
        if ax.get_xscale() == "log":
            ax.xaxis.set_minor_formatter(NullFormatter())
        if ax.get_yscale() == "log":
            ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
            ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_compute(runs: pd.DataFrame, laws: Laws, path: str | Path) -> Path | None:
    """Fig. 3: CE vs compute per group, frontier points highlighted, compute-law line."""
    groups = [g for g in GROUPS if runs[f"ce_{g}"].notna().any()]
    if not groups:
        return None
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False)
    for ax, g in zip(axes[0], groups, strict=True):
        d = runs[runs[f"ce_{g}"].notna()]
        c, y = d["C"].to_numpy(float), d[f"ce_{g}"].to_numpy(float)
        m = pareto_mask(c, y)
        ax.scatter(c[~m], y[~m], s=14, c="0.6", label="runs")
        ax.scatter(c[m], y[m], s=22, c="C3", label="frontier")
        law = laws.get(g, "compute")
        if law is not None and isinstance(law.fit, LogLinearFit):
            xs = np.logspace(np.log10(c.min()), np.log10(c.max()), 100)
            pr = law.fit.predict(xs[:, None])
            a1 = law.fit.param("C")
            ax.plot(xs, pr["mean"], "C0", label=f"slope {a1['value']:.3f}")
            ax.fill_between(xs, pr["ci_low"], pr["ci_high"], color="C0", alpha=0.2)
        ax.set(xscale="log", yscale="log", xlabel="compute C (FLOP)", ylabel=f"CE ({g})", title=g)
        ax.legend(fontsize=7)
    return _save(fig, Path(path))


def plot_params(runs: pd.DataFrame, laws: Laws, path: str | Path, group: str = "UC") -> Path | None:
    """Fig. 4: multivariate-law prediction of CE vs P at the largest S (and T), with CI and PI bands."""
    law = laws.get(group, "multivariate")
    if law is None or not isinstance(law.fit, LogLinearFit):
        return None
    fit = law.fit
    d = runs[runs[f"ce_{group}"].notna()]
    s_max, t_max = d["S"].max(), d["T"].max()
    p_lo, p_hi = np.log10(d["P"].min()), np.log10(d["P"].max())
    ps = np.logspace(p_lo, p_hi + 1, 100)  # one decade beyond the data: the extrapolation view
    cols = fit.names[1:]
    x = np.column_stack([ps if c == "P" else np.full_like(ps, s_max if c == "S" else t_max) for c in cols])
    pr = fit.predict(x)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    ax.fill_between(ps, pr["pi_low"], pr["pi_high"], color="C1", alpha=0.15, label="95% PI")
    ax.fill_between(ps, pr["ci_low"], pr["ci_high"], color="C1", alpha=0.35, label="95% CI")
    ax.plot(ps, pr["mean"], "C1", label="law")
    sel = (d["S"] == s_max) & (d["T"] == t_max)
    ax.scatter(d.loc[sel, "P"], d.loc[sel, f"ce_{group}"], c="k", s=18, zorder=3, label=f"runs at S={s_max:.3g}")
    ax.axvline(10**p_hi, c="0.5", ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="parameters P", ylabel=f"CE ({group})",
           title=f"{group}: predicted CE vs P (S={s_max:.3g}" + (f", T={t_max:g})" if "T" in cols else ")"))
    ax.legend(fontsize=7)
    return _save(fig, Path(path))


def plot_prefix(runs: pd.DataFrame, path: str | Path, metric: str = "uc_attribute_accuracy") -> Path | None:
    """Fig. 5: unseen-language caption quality with vs without the prefix, per model (mean over seeds)."""
    cols = [f"{metric}_prefix", f"{metric}_no_prefix"]
    if not all(c in runs for c in cols):
        return None
    d = runs.dropna(subset=cols)
    if d.empty:
        return None
    agg = d.groupby(["P", "T"])[cols].mean().reset_index().sort_values(["P", "T"])
    labels = [f"P={p:.2g}\nT={t:g}" for p, t in zip(agg["P"], agg["T"], strict=True)]
    xs = np.arange(len(agg))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(agg) + 2), 3.6))
    ax.bar(xs - 0.2, agg[cols[0]], 0.4, label="with prefix", color="C2")
    ax.bar(xs + 0.2, agg[cols[1]], 0.4, label="without prefix", color="C7")
    ax.set_xticks(xs, labels, fontsize=6)
    ax.set(ylabel=metric.replace("_", " "), title="Unseen-language captioning (UC)", ylim=(0, 105))
    ax.legend(fontsize=7)
    return _save(fig, Path(path))


def plot_quality_vs_compute(runs: pd.DataFrame, path: str | Path) -> Path | None:
    """Micro world: attribute accuracy and language fidelity (with prefix) vs compute, one line per T."""
    cols = ["uc_attribute_accuracy_prefix", "uc_fidelity_prefix"]
    present = [c for c in cols if c in runs and runs[c].notna().any()]
    if not present:
        return None
    fig, axes = plt.subplots(1, len(present), figsize=(4.4 * len(present), 3.6), squeeze=False)
    for ax, col in zip(axes[0], present, strict=True):
        d = runs.dropna(subset=[col])
        for i, (t, dt) in enumerate(sorted(d.groupby("T"), key=lambda kv: kv[0])):
            agg = dt.groupby("C")[col].mean().sort_index()
            ax.plot(agg.index, agg.values, "o-", ms=3, c=f"C{i}", label=f"T={t:g}")
        ax.set(xscale="log", xlabel="compute C (FLOP)", ylabel=col.replace("_", " "), ylim=(0, 105))
        ax.legend(fontsize=7)
    return _save(fig, Path(path))


def plot_plan(law, front: list[dict], path: str | Path, runs: pd.DataFrame | None = None, group: str = "UC",
              target: float | None = None, compute: float | None = None) -> Path:
    """`florenz plan`: CE vs compute, one line (with its CI band) per candidate size, the compute-optimal
    frontier, the question asked (target CE or budget), and the runs the law was fitted to."""
    cs = np.array([f["C"] for f in front])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, p in enumerate(law.sizes):
        s = cs / (law.flops_per_param_sample * p * (1 + law.trainable_share))
        b = law.bands(np.full_like(s, p), s)
        ax.plot(cs, b["mean"], c=f"C{i % 10}", lw=1, label=f"P = {p:.3g}")
        if np.isfinite(b["ci_low"]).any():
            ax.fill_between(cs, b["ci_low"], b["ci_high"], color=f"C{i % 10}", alpha=0.15)
    ax.plot(cs, [f["mean"] for f in front], "k--", lw=1.6, label="compute-optimal frontier")
    if runs is not None and len(runs):
        ax.scatter(runs["C"], runs[f"ce_{group}"], s=12, c="0.3", zorder=3, label="runs")
    if target is not None:
        ax.axhline(target, c="C3", lw=1, ls=":", label=f"target CE {target:g}")
    if compute is not None:
        ax.axvline(compute, c="C3", lw=1, ls=":", label=f"budget {compute:.3g} FLOP")
    ax.set(xscale="log", yscale="log", xlabel="compute C (FLOP)", ylabel=f"CE ({group})", title=law.name[:90])
    ax.title.set_fontsize(8)
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, Path(path))
