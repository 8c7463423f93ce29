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
        sizes = sorted(d["P"].unique())
        for i, p in enumerate(sizes):
            sel = (d["P"] == p).to_numpy()
            ax.scatter(c[sel], y[sel], s=14, c=f"C{(i + 4) % 10}", label=_size_label(p, runs))
        ax.scatter(c[m], y[m], s=60, facecolors="none", edgecolors="k", label="Pareto frontier")
        law = laws.get(g, "compute")
        if law is not None and law.usable and isinstance(law.fit, LogLinearFit):
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
    if law is None or not law.usable or not isinstance(law.fit, LogLinearFit):
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
    """Fig. 5: unseen-language caption quality with vs without the prefix, per model (mean over seeds, whiskers:
    the seed spread)."""
    cols = [f"{metric}_prefix", f"{metric}_no_prefix"]
    if not all(c in runs for c in cols):
        return None
    d = runs.dropna(subset=cols)
    if d.empty:
        return None
    g = d.groupby(["P", "T"])[cols]
    agg, lo, hi = (x.reset_index().sort_values(["P", "T"]) for x in (g.mean(), g.min(), g.max()))
    labels = [f"P={p:.2g}\nT={t:g}" for p, t in zip(agg["P"], agg["T"], strict=True)]
    xs = np.arange(len(agg))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(agg) + 2), 3.6))
    for off, col, color, label in ((-0.2, cols[0], "C2", "with prefix"), (0.2, cols[1], "C7", "without prefix")):
        err = np.vstack([agg[col] - lo[col], hi[col] - agg[col]])  # seed spread (min..max)
        ax.bar(xs + off, agg[col], 0.4, yerr=err, capsize=2, label=label, color=color)
    ax.set_xticks(xs, labels, fontsize=6)
    ax.set(ylabel=metric.replace("_", " "), title="Unseen-language captioning (UC)", ylim=(0, 105))
    ax.legend(fontsize=7)
    return _save(fig, Path(path))


def _size_label(p: float, runs: pd.DataFrame) -> str:
    presets = runs.loc[runs["P"] == p, "preset"].dropna().unique()
    return f"{presets[0]} (P={p:.3g})" if len(presets) == 1 else f"P={p:.3g}"


def plot_quality_vs_compute(runs: pd.DataFrame, path: str | Path) -> Path | None:
    """UC attribute accuracy and language fidelity (with prefix) vs compute: one line per model size (and T),
    the mean over seeds, with the seed spread (min..max) as a band."""
    cols = ["uc_attribute_accuracy_prefix", "uc_fidelity_prefix"]
    present = [c for c in cols if c in runs and runs[c].notna().any()]
    if not present:
        return None
    fig, axes = plt.subplots(1, len(present), figsize=(4.8 * len(present), 3.8), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, col in zip(axes[0], present, strict=True):
        d = runs.dropna(subset=[col])
        ts = sorted(d["T"].dropna().unique())
        for i, p in enumerate(sorted(d["P"].unique())):
            for j, t in enumerate(ts):
                dt = d[(d["P"] == p) & (d["T"] == t)]
                if dt.empty:
                    continue
                agg = dt.groupby("C")[col].agg(["mean", "min", "max", "count"]).sort_index()
                label = _size_label(p, runs) + (f", T={t:g}" if len(ts) > 1 else "")
                ax.plot(agg.index, agg["mean"], "o" + styles[j % 4], ms=3, c=f"C{i % 10}", label=label)
                if (agg["count"] > 1).any():
                    ax.fill_between(agg.index, agg["min"], agg["max"], color=f"C{i % 10}", alpha=0.15)
        ax.set(xscale="log", xlabel="compute C (FLOP)", ylabel=col.replace("_", " "), ylim=(0, 105))
        ax.legend(fontsize=6)
    return _save(fig, Path(path))


def plot_training_curves(curves: dict[str, pd.DataFrame], runs: pd.DataFrame, path: str | Path) -> Path | None:
    """Training loss vs samples seen, one line per run (colour = model size), per stage (from log.jsonl)."""
    curves = {k: v for k, v in curves.items() if not v.empty}
    if not curves:
        return None
    stages = [s for s in ("vision", "decoder_lm", "vl") if any((c["stage"] == s).any() for c in curves.values())]
    stages += sorted({s for c in curves.values() for s in c["stage"].unique()} - set(stages))
    sizes = sorted(runs["P"].unique())
    fig, axes = plt.subplots(1, len(stages), figsize=(4.6 * len(stages), 3.6), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=True):
        seen = set()
        for run, c in curves.items():
            d = c[c["stage"] == stage]
            if d.empty:
                continue
            p = runs.loc[runs["run"] == run, "P"]
            i = sizes.index(p.iloc[0]) if len(p) else 0
            label = _size_label(sizes[i], runs) if i not in seen else None
            seen.add(i)
            ax.plot(d["samples"], d["loss"], c=f"C{i % 10}", lw=0.8, alpha=0.8, label=label)
        ax.set(xscale="log", yscale="log", xlabel="samples seen (stage)", ylabel="training loss", title=stage)
        ax.legend(fontsize=6)
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
