"""`florenz demo`: the paper's study on the micro world, from scratch, on a laptop CPU.

World -> sweep (model sizes x budgets x decoder multilinguality T) -> evaluation -> fits -> report,
then a terminal summary whose findings are the report's claim verdicts, stated as measured.
"""

from __future__ import annotations

import time
from pathlib import Path

from florenz.clitools import console
from florenz.config import load_config
from florenz.io import write_json
from florenz.sweep.grid import expand_grid
from florenz.sweep.run import run_sweep


def run_demo(out: str | Path, sets: list[str] | None = None, config: str = "demo") -> dict:
    from florenz.report.report import build_report
    from florenz.world.build import ensure_world

    t0 = time.time()
    out = Path(out)
    cfg = load_config(config, sets)
    specs = expand_grid(cfg)
    sizes, budgets, ts = (sorted({getattr(s, k) for s in specs}) for k in ("preset", "samples", "decoder_languages"))
    console.print(f"[bold]florenz demo[/]: {len(specs)} runs over sizes {sizes}, budgets {budgets}, decoder "
                  f"languages T in {ts}, seeds {cfg.sweep.seeds} -> {out}")
    if not cfg.data.path:  # build the world once, inside the demo directory, before any run starts
        cfg.data.path = str(ensure_world(cfg.world, cfg.data.cache_dir or out / "world"))
    t_world = time.time() - t0
    run_sweep(cfg, out / "runs", specs)
    t_sweep = time.time() - t0 - t_world
    console.print("fitting laws and writing the report ...")
    rep = build_report(out / "runs", out)
    wall = time.time() - t0
    summary = {
        "out": str(out),
        "report": str(out / "report.md"),
        "report_html": str(out / "report.html"),
        "runs": len(specs),
        "wall_time_s": round(wall, 1),
        "world_s": round(t_world, 1),
        "sweep_s": round(t_sweep, 1),
        "findings": rep.findings,
        "claims": [c.to_dict() for c in rep.claims],
    }
    write_json(out / "demo.json", summary)
    lines = [f"demo finished in {wall / 60:.1f} min ({len(specs)} runs). Report: {out / 'report.md'} "
             f"(and report.html)", "Headline findings (verdicts are what these runs measured):"]
    lines += [f"  - {f}" for f in rep.findings]
    summary["text"] = "\n".join(lines)
    return summary
