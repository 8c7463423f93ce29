"""Training checkpoints: `checkpoints/step-XXXXXXXX/state.pt`, written atomically, last K kept.

A checkpoint is written into a hidden temporary directory and renamed into place, so a crash during
the write leaves the previous checkpoint as the latest loadable one (the stray temp dir is ignored
and cleaned up by the next save).
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from florenz.errors import FlorenzError

STATE_FILE = "state.pt"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _STEP_DIR.match(p.name)) and (p / STATE_FILE).is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1] if ckpts else None


def save_checkpoint(run_dir: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write `state` as checkpoint `step` (temp dir + fsync + rename), then prune to the last `keep`."""
    tmp = temp_dir(run_dir, step, f"{os.getpid()}")
    try:
        write_state(tmp, state)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return publish(run_dir, step, tmp, keep)


def temp_dir(run_dir: str | Path, step: int, tag: str) -> Path:
    """A fresh hidden directory for checkpoint `step` (stray ones of earlier crashes removed first)."""
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".step-*.tmp*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".step-{step:08d}.tmp{tag}"
    tmp.mkdir()
    return tmp


def write_state(directory: Path, state: dict[str, Any]) -> None:
    """`state.pt` in `directory`, fsynced; written last, it marks a checkpoint complete."""
    with open(directory / STATE_FILE, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())


def publish(run_dir: str | Path, step: int, tmp: Path, keep: int) -> Path:
    """Rename a complete temp dir into `step-XXXXXXXX` (swapping out an older one), then keep the last `keep`."""
    root = checkpoint_dir(run_dir)
    final = root / f"step-{step:08d}"
    try:
        if final.exists():  # re-saving a step (e.g. the end of a resumed run): swap, then drop the old one
            old = root / f".step-{step:08d}.tmp-old{os.getpid()}"
            final.replace(old)
            tmp.replace(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.replace(final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(run_dir)[: -max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    file = path / STATE_FILE if path.is_dir() else path
    if not file.is_file():
        raise FlorenzError(f"checkpoint not found: {file}")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise FlorenzError(f"unreadable checkpoint {file}: {type(e).__name__}: {e}") from None


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
