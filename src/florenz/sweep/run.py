"""Run a sweep: expand the grid, skip finished points, run the rest with one overall progress bar."""

from __future__ import annotations

import os
import time
from pathlib import Path

from florenz.clitools import console, make_progress
from florenz.config import Config, save_config, to_dict
from florenz.errors import FlorenzError
from florenz.io import check_dir_path, dir_lock, write_json
from florenz.sweep.executors import run_local, run_slurm
from florenz.sweep.grid import RunSpec, cost_estimate, expand_grid, run_status


def run_sweep(cfg: Config, sweep_dir: str | Path, specs: list[RunSpec] | None = None,
              slurm_local: bool = False) -> list[dict]:
    """Run every grid point (default: the config's grid) under `sweep_dir`; returns their summaries."""
    sweep_dir = check_dir_path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    specs = specs if specs is not None else expand_grid(cfg)
    with dir_lock(sweep_dir, wait=True, what="sweep directory"):  # a second sweep on --out waits, and says so
        return _run_sweep(cfg, sweep_dir, specs, slurm_local)


def _run_sweep(cfg: Config, sweep_dir: Path, specs: list[RunSpec], slurm_local: bool) -> list[dict]:
    if not cfg.train.decoder_lm_cache:  # runs of one (preset, T, seed) share their decoder-LM stage
        cfg.train.decoder_lm_cache = str(sweep_dir / "decoder_lm_cache")
    if cfg.train.vision_pretrain_samples and not cfg.train.vision_pretrain_cache:  # ... and (preset, seed) vision
        cfg.train.vision_pretrain_cache = str(sweep_dir / "vision_cache")
    save_config(cfg, sweep_dir / "sweep_config.toml")
    status = {s.name: run_status(sweep_dir / s.name) for s in specs}
    done = [s for s in specs if status[s.name] == "done"]
    todo = [s for s in specs if status[s.name] != "done"]
    console.print(f"sweep: {len(specs)} runs in {sweep_dir} ({len(done)} done, {len(todo)} to run)")
    base = to_dict(cfg)
    total_cost = sum(cost_estimate(s) for s in todo) or 1.0
    t0 = time.time()
    results: list[dict] = []
    old_env = os.environ.get("FLORENZ_PROGRESS")
    os.environ["FLORENZ_PROGRESS"] = "0"  # the inner loops stay quiet; this bar owns the terminal
    try:
        with make_progress(transient=False) as progress:
            task = progress.add_task("sweep", total=total_cost, info=f"0/{len(todo)} runs")
            finished = 0

            def on_done(spec: RunSpec, res: dict) -> None:
                nonlocal finished
                finished += 1
                progress.advance(task, cost_estimate(spec))
                if res["status_before"] == "locked":
                    console.print(f"sweep: skipped {spec.name}: {res['note']}")
                progress.update(task, info=f"{finished}/{len(todo)} runs, last {spec.name} ({res['seconds']:.0f}s)")
                results.append(res)

            if cfg.sweep.executor == "local":
                run_local(todo, base, sweep_dir, cfg.sweep.workers, cfg.sweep.threads_per_worker, on_done)
            elif cfg.sweep.executor == "slurm":
                run_slurm(todo, base, sweep_dir, cfg.sweep, on_done, local=slurm_local)
            else:
                raise FlorenzError(f"sweep.executor must be 'local' or 'slurm', got {cfg.sweep.executor!r}")
    finally:
        if old_env is None:
            os.environ.pop("FLORENZ_PROGRESS", None)
        else:
            os.environ["FLORENZ_PROGRESS"] = old_env
    locked = [r["name"] for r in results if r["status_before"] == "locked"]
    summary = {"runs": [s.name for s in specs], "skipped": [s.name for s in done], "locked": locked,
               "ran": [r["name"] for r in results if r["status_before"] != "locked"],
               "wall_time_s": round(time.time() - t0, 1)}
    write_json(sweep_dir / "sweep.json", summary)
    return results
