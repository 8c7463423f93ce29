"""Where grid points run: in this process, in N local worker processes, or as SLURM jobs (submitit).

Every executor calls the same `grid.run_point`, so a point behaves identically wherever it runs;
`on_done(result)` lets the caller drive one overall progress display.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from florenz.errors import FlorenzError
from florenz.sweep.config import SweepConfig
from florenz.sweep.grid import RunSpec, run_point

OnDone = Callable[[RunSpec, dict], None]


def run_local(specs: list[RunSpec], base_cfg: dict, sweep_dir: Path, workers: int = 1, threads: int = 0,
              on_done: OnDone | None = None) -> list[dict]:
    """Sequential in this process (workers=1) or a pool of spawned workers with a thread budget each."""
    if workers < 1:
        raise FlorenzError(f"sweep.workers must be >= 1, got {workers}")
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    results = []
    if workers == 1:
        for spec in specs:
            res = run_point(base_cfg, spec, str(sweep_dir), threads)
            results.append(res)
            if on_done:
                on_done(spec, res)
        return results
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_point, base_cfg, s, str(sweep_dir), threads): s for s in specs}
        for fut in as_completed(futures):
            res = fut.result()
            results.append(res)
            if on_done:
                on_done(futures[fut], res)
    return results


def run_slurm(specs: list[RunSpec], base_cfg: dict, sweep_dir: Path, cfg: SweepConfig,
              on_done: OnDone | None = None, local: bool = False) -> list[dict]:
    """One SLURM job per point (or one job array) through submitit; `local=True` uses submitit's
    LocalExecutor, which runs the same job files as subprocesses (how the tests exercise this path)."""
    try:
        import submitit
    except ImportError:
        raise FlorenzError("the slurm executor needs submitit: pip install 'florenz[slurm]'") from None
    folder = Path(sweep_dir) / "slurm" / "%j"
    if local:
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=cfg.slurm_time_min)
    else:
        executor = submitit.AutoExecutor(folder=folder)
        params: dict = {"timeout_min": cfg.slurm_time_min, "cpus_per_task": cfg.threads_per_worker or 8}
        if cfg.slurm_partition:
            params["slurm_partition"] = cfg.slurm_partition
        executor.update_parameters(**params)
    args = [(base_cfg, s, str(sweep_dir), cfg.threads_per_worker) for s in specs]
    if cfg.slurm_array:
        jobs = executor.map_array(run_point, *zip(*args, strict=True))
    else:
        jobs = [executor.submit(run_point, *a) for a in args]
    results = []
    for spec, job in zip(specs, jobs, strict=True):
        try:
            res = job.result()
        except Exception as e:  # submitit wraps the job's traceback
            raise FlorenzError(f"sweep point {spec.name} failed in job {job.job_id}: {str(e).splitlines()[-1]}") from e
        results.append(res)
        if on_done:
            on_done(spec, res)
    return results
