"""Reuse a finished decoder-LM stage across runs that would train it identically.

In a sweep, every budget of one (preset, T, seed) starts with the same decoder language-model
stage; training it once and loading it afterwards removes most of that cost. The cache entry holds
the weights the stage trains (the decoder's own, `decoder-lm` policy) and the RNG state *after* the
stage, so a run that loads it continues exactly as if it had trained the stage itself. Only those
weights: the rest of the model (a vision tower pre-trained before this stage with settings the key
does not cover) stays the run's own. The key covers everything the stage depends on (model config,
LM text, tokenizer, the stage's optimiser settings and seed). A file lock makes parallel workers
wait for one another instead of training the same stage twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from florenz.config import Config
from florenz.errors import FlorenzError
from florenz.io import current_umask
from florenz.models.freezing import POLICIES
from florenz.train.cache import data_fingerprint, tokenizer_fingerprint

STATE_FILE = "stage.pt"


def stage_state(model: nn.Module, policy: str) -> dict:
    """The weights a stage with freezing `policy` trains: all it changes (frozen weights stay as they were)."""
    rule, kind = POLICIES[policy], model.config.decoder_kind
    return {k: v for k, v in model.state_dict().items() if rule(k, kind)}


def load_stage_state(model: nn.Module, state: dict, policy: str, where: Path) -> None:
    """Load a cached stage's weights into `model`, leaving every other weight (e.g. the vision tower) as it is."""
    rule, kind = POLICIES[policy], model.config.decoder_kind
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(rule(k, kind) for k in missing):
        raise FlorenzError(f"decoder-LM cache entry {where} does not fit this model (delete it to retrain)")


class LMStageCache:
    def __init__(self, root: str | Path, key: str) -> None:
        self.root, self.key = Path(root), key
        self.dir = self.root / key

    @classmethod
    def for_run(cls, cfg: Config, data_dir: Path, tokenizer) -> LMStageCache:
        t = cfg.train
        spec = {
            "model": dataclasses.asdict(cfg.model), "lm_text": data_fingerprint(data_dir, ("lm/*.txt",)),
            "tokenizer": tokenizer_fingerprint(tokenizer), "languages": t.decoder_lm_languages,
            "samples": t.decoder_lm_samples, "lr": t.decoder_lm_lr, "batch": [t.batch_size, t.micro_batch_size],
            "opt": [t.weight_decay, t.beta1, t.beta2, t.grad_clip, t.warmup_steps, t.min_lr_ratio],
            "seed": t.seed, "max_target_tokens": cfg.data.max_target_tokens,
            "v": 2,  # v2: the entry holds the stage's weights only (v1 held the whole model, vision tower included)
        }
        key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return cls(t.decoder_lm_cache, f"{cfg.model.preset}-T{len(t.decoder_lm_languages)}-{key}")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{self.key}.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def load(self) -> dict | None:
        path = self.dir / STATE_FILE
        return torch.load(path, map_location="cpu", weights_only=False) if path.is_file() else None

    def save(self, model_state: dict, rng: dict, loss: float | None, steps: int, wall_time_s: float) -> None:
        payload = {"model": {k: v.detach().cpu().clone() for k, v in model_state.items()}, "rng": rng,
                   "loss": loss, "steps": steps, "wall_time_s": wall_time_s}
        self.save_payload(payload)

    def save_payload(self, payload: dict) -> None:
        """Written into a temporary directory and renamed, so a reader never sees half an entry.
        (Also the store of the vision pre-training stage, train/vision_pretrain.py.)"""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{self.key}."))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp's 0700 would hide a shared cache from other users
        torch.save(payload, tmp / STATE_FILE)
        try:
            tmp.replace(self.dir)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
