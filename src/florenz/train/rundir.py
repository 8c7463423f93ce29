"""A run directory holds one run: the checks that keep its files describing the same model.

- A fresh start refuses a directory that already holds a run's outputs (model/, result.json, scores.json):
  training into it would pair new results with old scores.
- `--resume` refuses a config that differs from the saved `config.toml` in anything but the keys listed
  in RESUMABLE (how the run is executed, not what it computes).
- Writing a new model removes evaluation outputs older than it; `evaluation_is_current` tells a sweep,
  fit or report whether a run's scores.json belongs to its model.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from florenz.clitools import console
from florenz.config import Config, config_from_dict, to_dict, to_toml
from florenz.errors import FlorenzError

CONFIG_FILE = "config.toml"
RESULT_FILE = "result.json"
SCORES_FILE = "scores.json"
OUTPUTS_DIR = "outputs"
MODEL_WEIGHTS = Path("model") / "model.safetensors"
# Keys that may change between the sessions of one run: they do not change what is computed.
RESUMABLE = ("train.threads", "train.log_every", "train.checkpoint_every", "train.keep_checkpoints",
             "train.decoder_lm_cache", "train.compile", "train.activation_checkpointing", "data.cache_dir", "eval.*",
             "sweep.*")


def check_fresh(out: Path) -> None:
    """A run without checkpoints to resume from starts in a directory without another run's outputs."""
    found = [n for n in ("model", RESULT_FILE, SCORES_FILE, OUTPUTS_DIR) if (out / n).exists()]
    if found:
        raise FlorenzError(f"run directory {out} already holds a run ({', '.join(found)}) and no checkpoint to "
                           "resume from; choose another --out or delete that directory")


def check_resume_config(cfg: Config, out: Path) -> None:
    """The resumed config equals the saved one except for RESUMABLE keys; else an error listing the keys."""
    path = out / CONFIG_FILE
    if not path.is_file():
        return
    try:
        saved = config_from_dict(tomllib.loads(path.read_text(encoding="utf-8")), source=str(path))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise FlorenzError(f"--resume: saved config {path} is unreadable ({e})") from None
    now = config_from_dict(tomllib.loads(to_toml(cfg)), source="resolved config")  # same TOML round trip
    old, new = _flatten(to_dict(saved)), _flatten(to_dict(now))
    differing = sorted(k for k in old.keys() | new.keys()
                       if old.get(k) != new.get(k) and not any(k == r or (r.endswith("*") and k.startswith(r[:-1]))
                                                               for r in RESUMABLE))
    if differing:
        shown = ", ".join(f"{k} ({old.get(k)!r} -> {new.get(k)!r})" for k in differing[:8])
        more = f" and {len(differing) - 8} more" if len(differing) > 8 else ""
        raise FlorenzError(f"--resume: the config differs from {path} in {shown}{more}; only "
                           f"{', '.join(RESUMABLE)} may change when resuming (or train into another --out)")


def clear_evaluation(out: Path) -> None:
    """Remove scores.json and outputs/: they were computed from the model about to be replaced."""
    stale = [p for p in (out / SCORES_FILE, out / OUTPUTS_DIR) if p.exists()]
    for p in stale:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    if stale:
        console.print(f"[yellow]warning:[/] {out}: removed evaluation outputs of the previous model "
                      f"({', '.join(p.name for p in stale)})")


def evaluation_is_current(run_dir: Path) -> bool:
    """scores.json exists and was written after the model it scores."""
    scores, weights = run_dir / SCORES_FILE, run_dir / MODEL_WEIGHTS
    if not scores.is_file():
        return False
    return not weights.is_file() or scores.stat().st_mtime_ns >= weights.stat().st_mtime_ns


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and not k.endswith("class_weights"):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
