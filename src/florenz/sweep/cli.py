"""`florenz sweep` and `florenz demo`."""

from __future__ import annotations

from pathlib import Path

import typer

from florenz.clitools import emit, json_option, out_option, set_option


def sweep(
    config: str = typer.Argument("demo", help="Config name under configs/ or a TOML path with a sweep section."),
    out: Path = out_option("Sweep directory: one run directory per grid point, sweep.json.", Path("runs/sweep")),
    sets: list[str] = set_option(),
    as_json: bool = json_option(),
) -> None:
    """Run a grid (presets x budgets x decoder languages T x seeds) of train + evaluate runs under --out.

    Idempotent: finished runs are skipped, interrupted ones resume from their last checkpoint."""
    from florenz.sweep.grid import load_sweep_config
    from florenz.sweep.run import run_sweep

    cfg = load_sweep_config(config, sets)
    results = run_sweep(cfg, out)
    ran = [r["name"] for r in results if r["status_before"] != "locked"]
    locked = [r["name"] for r in results if r["status_before"] == "locked"]
    note = f"; {len(locked)} skipped, in use by another process" if locked else ""
    emit({"sweep_dir": str(out), "ran": ran, "locked": locked}, as_json,
         text=f"sweep finished: {len(ran)} runs trained/evaluated in {out}{note}")


def demo(
    out: Path = out_option("Where the study goes: run directories, report.md, report.html, plots.", Path("runs/demo")),
    sets: list[str] = set_option(),
    as_json: bool = json_option(),
) -> None:
    """Run the whole micro-world study on this CPU: build the world, train and evaluate a grid of model
    sizes x budgets plus the decoder-multilinguality contrast (T=1 vs all), fit the laws, write the report."""
    from florenz.sweep.demo import run_demo

    summary = run_demo(out, sets)
    emit(summary, as_json, text=summary["text"])
