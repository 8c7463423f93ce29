"""The sweep grid: presets x sample budgets x decoder multilinguality T x seeds, one run dir each.

A run directory is named by its parameters, so a sweep can be stopped and restarted at will:
`run_point` skips a finished run (result.json and scores.json present), resumes a run that has a
checkpoint, and only evaluates a run that trained but was not evaluated.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path

from florenz.config import Config, config_from_dict, load_config, to_dict
from florenz.errors import FlorenzError
from florenz.io import LockedError, dir_lock, read_json

RESULT_FILE = "result.json"
SCORES_FILE = "scores.json"


@dataclass(frozen=True)
class RunSpec:
    preset: str
    samples: int
    decoder_languages: int  # T: the decoder LM stage sees the first T world languages (0 = no LM stage)
    seed: int

    @property
    def name(self) -> str:
        return f"{self.preset}__S{self.samples}__T{self.decoder_languages}__seed{self.seed}"


def expand_grid(cfg: Config) -> list[RunSpec]:
    """The grid plus the contrast points, without duplicates, most expensive first (so parallel workers
    finish together and runs sharing a decoder-LM stage rarely start at the same moment), except that every
    preset's costliest point comes first: a stage shared by a preset's runs (vision pre-training with a fixed
    `train.vision_pretrain_seed`) then starts on parallel workers at once instead of one run waiting for it."""
    s = cfg.sweep
    if not (s.presets and s.samples and s.decoder_languages and s.seeds):
        raise FlorenzError("sweep grid is empty: sweep.presets, samples, decoder_languages and seeds need values")
    n_langs = len(cfg.world.languages)
    for t in [*s.decoder_languages, *s.contrast_decoder_languages]:
        if not 0 <= t <= n_langs:
            raise FlorenzError(f"sweep: decoder languages T={t} outside 0..{n_langs} (world.languages)")
    for n in [*s.samples, *s.contrast_samples]:
        if n <= 0:
            raise FlorenzError(f"sweep: sample budget {n} must be positive")
    points = itertools.chain(itertools.product(s.presets, s.samples, s.decoder_languages, s.seeds),
                             itertools.product(s.presets, s.contrast_samples, s.contrast_decoder_languages, s.seeds))
    specs = {spec.name: spec for spec in (RunSpec(*p) for p in points)}
    ordered = sorted(specs.values(), key=cost_estimate, reverse=True)
    leads: dict[str, RunSpec] = {}
    for spec in ordered:
        leads.setdefault(spec.preset, spec)
    first = {spec.name for spec in leads.values()}
    return [*leads.values(), *(spec for spec in ordered if spec.name not in first)]


def run_config(base: Config, spec: RunSpec) -> Config:
    """The config of one grid point: the base config with the point's values set."""
    cfg = config_from_dict(to_dict(base), source="sweep base")
    cfg.model.preset = spec.preset
    cfg.train.samples = spec.samples
    cfg.train.seed = spec.seed
    cfg.train.decoder_lm_languages = list(cfg.world.languages[: spec.decoder_languages])
    if spec.decoder_languages == 0:  # no decoder-LM stage, hence no LM text to replay in the VL stage either
        cfg.train.decoder_lm_samples = 0
        cfg.train.decoder_lm_replay = 0.0
    return cfg


def run_status(run_dir: Path) -> str:
    """done | trained (needs eval: no scores.json, or one older than the model) | partial (resume) | new."""
    from florenz.train.rundir import evaluation_is_current

    if (run_dir / RESULT_FILE).is_file():
        return "done" if evaluation_is_current(run_dir) else "trained"
    ckpts = run_dir / "checkpoints"
    return "partial" if ckpts.is_dir() and any(ckpts.iterdir()) else "new"


def run_point(base_cfg: dict, spec: RunSpec, sweep_dir: str, threads: int = 0) -> dict:
    """Train (or resume) and evaluate one grid point. Runs in a worker process or a SLURM job."""
    from florenz.evaluate.runner import run_eval
    from florenz.train.loop import train_run

    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    cfg = run_config(config_from_dict(base_cfg, source="sweep base"), spec)
    run_dir = Path(sweep_dir) / spec.name
    t0 = time.time()
    try:
        with dir_lock(run_dir, what="run directory"):
            status = run_status(run_dir)  # read under the lock: another process may have finished it
            if status in ("new", "partial"):
                train_run(cfg, run_dir, resume=status == "partial")
            if status != "done":
                run_eval(run_dir)
    except LockedError as e:  # another process trains this point: leave it to that one
        return {"name": spec.name, "status_before": "locked", "seconds": round(time.time() - t0, 2),
                "result": None, "note": str(e)}
    return {"name": spec.name, "status_before": status, "seconds": round(time.time() - t0, 2),
            "result": read_json(run_dir / RESULT_FILE)}


def load_sweep_config(config: str, sets: list[str]) -> Config:
    cfg = load_config(config, sets)
    expand_grid(cfg)  # validate before anything runs
    return cfg


def cost_estimate(spec: RunSpec) -> float:
    """Relative cost of a grid point for ETAs and scheduling: samples x the preset's measured step cost
    (benchmarks/RESULTS.md: micro xxs : xs : s : m ~ 0.7 : 1 : 2.5 : 7 per sample)."""
    factor = {"xxs": 0.7, "xs": 1.0, "s": 2.5, "m": 7.0}.get(spec.preset.rsplit("-", 1)[-1], 3.0)
    return spec.samples * factor
