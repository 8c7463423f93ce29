"""`florenz fit`: scaling laws for a runs directory, or for any CSV table with one row per run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from florenz.clitools import emit, json_option
from florenz.errors import FlorenzError

if TYPE_CHECKING:  # numpy, pandas and scipy load inside the commands, so `florenz --help` starts at once
    import pandas as pd


def read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """CSV -> the named numeric columns; a missing column, or a missing / non-positive cell, names its row."""
    import numpy as np
    import pandas as pd

    if not path.is_file():
        raise FlorenzError(f"--csv: file not found: {path}")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise FlorenzError(f"--csv {path}: cannot parse ({str(e).splitlines()[0]})") from None
    for c in columns:
        if c not in df.columns:
            raise FlorenzError(f"--csv {path}: no column {c!r} (columns: {', '.join(map(str, df.columns))})")
    out = df[columns].apply(pd.to_numeric, errors="coerce")
    for c in columns:
        bad = np.flatnonzero(~(np.isfinite(out[c].to_numpy(float)) & (out[c].to_numpy(float) > 0)))
        if len(bad):
            i = int(bad[0])
            raise FlorenzError(f"--csv {path}: row {i + 1} (line {i + 2}) has missing or non-positive {c!r}: "
                               f"{df[c].iloc[i]!r}")
    return out


def _numbers(fit: dict, problems: list[str]) -> dict:
    """A fit's JSON: its numbers, or (not identifiable) the reasons, with the raw numbers under `raw_fit`."""
    return {"not_identifiable": "; ".join(problems), "raw_fit": fit} if problems else fit


def _fit_csv(csv: Path, law: str, xs: list[str], y: str, n_bootstrap: int, seed: int) -> tuple[dict, str]:
    from florenz.scaling.chinchilla import fit_chinchilla
    from florenz.scaling.fit import fit_loglinear
    from florenz.scaling.identify import chinchilla_problems, loglinear_problems
    from florenz.scaling.laws import leave_largest_out

    df = read_table(csv, [*xs, y])
    x, yy = df[xs].to_numpy(float), df[y].to_numpy(float)
    if law == "chinchilla":
        if len(xs) != 2:
            raise FlorenzError(f"--x: the chinchilla law needs exactly two columns (params,samples), got {xs}")
        fit = fit_chinchilla(x[:, 0], x[:, 1], yy, n_bootstrap=n_bootstrap, seed=seed)
        ext = leave_largest_out(x, yy, x[:, 0], lambda a, b: fit_chinchilla(a[:, 0], a[:, 1], b, n_bootstrap=0))
        problems = chinchilla_problems(fit, x[:, 0], x[:, 1])
        res = {"law": "chinchilla", "x": xs, "y": y, **_numbers(fit.to_dict(), problems), "leave_largest_out": ext}
        lines = [f"{y} = E + A/{xs[0]}^alpha + B/{xs[1]}^beta   (n = {fit.n}, R² on log = {fit.r2:.4f}, "
                 f"fit {fit.fit_seconds:.2f} s, {fit.n_bootstrap} bootstraps {fit.bootstrap_seconds:.2f} s)"]
        if problems:
            lines.append(f"  not identifiable ({'; '.join(problems)})")
        else:
            lines += [f"  {k:<6} {v:12.5g}  95% CI [{fit.ci[k][0]:.5g}, {fit.ci[k][1]:.5g}]"
                      for k, v in fit.params.items()]
    elif law == "loglinear":
        cols = dict(zip(xs, x.T, strict=True))
        fit = fit_loglinear(cols, yy)
        ext = leave_largest_out(x, yy, x[:, 0], lambda a, b: fit_loglinear(dict(zip(xs, a.T, strict=True)), b))
        problems = loglinear_problems(fit)
        res = {"law": "loglinear", "x": xs, "y": y, **_numbers(fit.to_dict(), problems), "leave_largest_out": ext}
        terms = " + ".join(f"b_{c} log10 {c}" for c in xs)
        lines = [f"log10 {y} = b0 + {terms}   (n = {fit.n}, R² = {fit.r2:.4f})"]
        if problems:
            lines.append(f"  not identifiable ({'; '.join(problems)})")
        for name in [] if problems else fit.names:
            p = fit.param(name)
            ci = f"[{p['ci_low']:.5g}, {p['ci_high']:.5g}]"
            lines.append(f"  {name:<10} {p['value']:10.5g}  95% CI {ci}  p = {p['p']:.3g}")
    else:
        raise FlorenzError(f"--law: unknown law {law!r} (choose chinchilla or loglinear)")
    if ext:
        lines.append(f"leave-largest-out ({xs[0]} = {ext['held_out_size']:.4g}, {ext['held_out']} rows): "
                     f"mean |relative error| {ext['mean_abs_rel_error']:.2%}")
    return res, "\n".join(lines)


def fit(
    runs_dir: Path | None = typer.Argument(None, help="Runs directory (any dirs with result.json under it)."),
    csv: Path | None = typer.Option(None, "--csv", help="Fit a table instead: a CSV with one row per run."),
    law: str = typer.Option("loglinear", "--law", help="With --csv: chinchilla or loglinear."),
    x: str = typer.Option("params,samples", "--x", help="With --csv: comma-separated regressor columns."),
    y: str = typer.Option("loss", "--y", help="With --csv: the response column."),
    bootstrap: int = typer.Option(300, "--bootstrap", help="Bootstrap resamples for Chinchilla CIs."),
    chinchilla: bool = typer.Option(
        True, "--chinchilla/--no-chinchilla", help="Runs dir: also fit the Chinchilla form."
    ),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    as_json: bool = json_option(),
) -> None:
    """Fit scaling laws to a runs directory or a CSV table."""
    if bootstrap < 0:
        raise FlorenzError(f"--bootstrap must be >= 0, got {bootstrap}")
    if csv is not None:
        if runs_dir is not None:
            raise FlorenzError("give either RUNS_DIR or --csv, not both")
        xs = [c.strip() for c in x.split(",") if c.strip()]
        if not xs:
            raise FlorenzError("--x: no columns given")
        res, text = _fit_csv(csv, law, xs, y, bootstrap, seed)
        emit(res, as_json, text)
        return
    if runs_dir is None:
        raise FlorenzError("give a RUNS_DIR or --csv FILE")
    from florenz.scaling.laws import fit_runs, format_laws
    from florenz.scaling.table import load_runs

    table = load_runs(runs_dir)
    laws = fit_runs(table.runs, chinchilla=chinchilla, n_bootstrap=bootstrap)
    head = f"{len(table.runs)} runs, {table.n_without_scores} without scores.json (skipped)\n"
    if table.left_out:
        head += f"{len(table.left_out)} runs not fully used:\n{table.left_out_text()}\n"
    emit({"n_runs": len(table.runs), "n_without_scores": table.n_without_scores, "left_out_runs": table.left_out,
          "laws": laws.to_dict()}, as_json, head + format_laws(laws))


def _extra(row: dict) -> str:
    return "  [extrapolated: outside the runs' P x S]" if row.get("extrapolated") else ""


def _plan_text(res: dict) -> str:
    inf = lambda v: "unreachable" if not math.isfinite(v) else f"{v:.3g}"  # noqa: E731
    lines = [f"law: {res['law']}"]
    if res["question"] == "target":
        lines.append(f"to reach CE {res['target_ce']:g}:")
        for r in res["per_size"]:
            lines.append(f"  P = {r['P']:.3g}: S = {inf(r['S'])} (95% CI {inf(r['S_ci'][0])} .. {inf(r['S_ci'][1])}, "
                         f"PI {inf(r['S_pi'][0])} .. {inf(r['S_pi'][1])}), C = {inf(r['C'])} FLOP "
                         f"(CI {inf(r['C_ci'][0])} .. {inf(r['C_ci'][1])})" + _extra(r))
        b = res["best"]
        lines.append(f"cheapest: P = {b['P']:.3g}, S = {b['S']:.3g}, C = {b['C']:.3g} FLOP" if b else
                     "no candidate size reaches the target")
    else:
        lines.append(f"with C = {res['compute']:.3g} FLOP:")
        for r in res["per_size"]:
            lines.append(f"  P = {r['P']:.3g}: S = {r['S']:.3g}, CE = {r['mean']:.4g} (95% CI {r['ci_low']:.4g} .. "
                         f"{r['ci_high']:.4g}, PI {r['pi_low']:.4g} .. {r['pi_high']:.4g})" + _extra(r))
        b = res["best"]
        lines.append(f"best: P = {b['P']:.3g}, S = {b['S']:.3g}, CE = {b['mean']:.4g}")
    return "\n".join(lines)


def plan(
    runs_dir: Path | None = typer.Argument(None, help="Sweep/runs directory whose fitted law to plan with."),
    coefficients: Path | None = typer.Option(
        None, "--coefficients", help="Plan with a law from a JSON file instead: {\"source\", \"form\": "
        "\"multivariate\"|\"chinchilla\", \"coef\": {\"intercept\", \"P\", \"S\", \"T\"} or {E, A, B, alpha, beta}, "
        "\"flops_per_param_sample\", \"trainable_share\", \"sizes\", optional \"cov\", \"dof\", \"sigma_log10\"}."),
    target_ce: float | None = typer.Option(None, "--target-ce", help="Question 1: what (P, S) reaches this CE?"),
    compute: float | None = typer.Option(None, "--compute", help="Question 2: the best CE for this many FLOPs."),
    group: str = typer.Option("UC", "--group", help="CE group: UC, ST or SC."),
    law: str = typer.Option("multivariate", "--law", help="Runs dir: multivariate or chinchilla."),
    t: float | None = typer.Option(None, "--T", help="Decoder languages T for a law with a T term (default: max)."),
    sizes: str | None = typer.Option(None, "--sizes", help="Candidate model sizes P, comma-separated."),
    bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap resamples for a Chinchilla law's bands."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Where plan.json + plan.png go (default RUNS_DIR/plan, or ./plan)."),
    as_json: bool = json_option(),
) -> None:
    """How big a model and how much data: the (P, S) and compute that reach a target CE, or the best CE for a
    compute budget, with 95% CI and PI, the compute-optimal frontier and a plot."""
    from florenz.io import write_json
    from florenz.scaling import plan as pl

    if (runs_dir is None) == (coefficients is None):
        raise FlorenzError("give either RUNS_DIR or --coefficients FILE")
    if (target_ce is None) == (compute is None):
        raise FlorenzError("ask one question: --target-ce Y or --compute FLOPS")
    if group not in ("UC", "ST", "SC"):
        raise FlorenzError(f"--group must be UC, ST or SC, got {group!r}")
    cand = pl.parse_sizes(sizes) if sizes else None
    runs = None
    if runs_dir is not None:
        plaw, runs = pl.law_from_runs(runs_dir, group, law, t, cand, bootstrap)
    else:
        plaw = pl.law_from_file(coefficients, t, cand)
    res = pl.plan_target(plaw, target_ce) if target_ce is not None else pl.plan_budget(plaw, compute)
    if runs is not None:
        c_lo, c_hi = float(runs["C"].min()), float(runs["C"].max()) * 1e3
    else:
        c0 = compute if compute is not None else (res["best"]["C"] if res["best"] else 1e18)
        c_lo, c_hi = c0 / 1e3, c0 * 1e3
    if res["question"] == "target" and res["best"]:
        c_lo, c_hi = min(c_lo, res["best"]["C"] / 10), max(c_hi, res["best"]["C"] * 10)
    res["frontier"] = pl.frontier(plaw, c_lo, c_hi)
    res["cost_model"] = {"C": "S * k * P * (1 + r)", "k": plaw.flops_per_param_sample, "r": plaw.trainable_share}
    out = out or ((runs_dir / "plan") if runs_dir is not None else Path("plan"))
    if out.exists() and not out.is_dir():
        raise FlorenzError(f"--out {out}: exists and is not a directory")
    from florenz.scaling.plots import plot_plan

    res["plot"] = str(plot_plan(plaw, res["frontier"], out / "plan.png", runs=runs, group=group,
                                target=target_ce, compute=compute))
    write_json(out / "plan.json", res)
    emit(res, as_json, _plan_text(res) + f"\nwrote {out / 'plan.json'} and {res['plot']}")
