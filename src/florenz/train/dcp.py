"""Sharded checkpoints of distributed runs (DDP, FSDP2) with `torch.distributed.checkpoint`, and their export.

A distributed checkpoint is `step-XXXXXXXX/dcp/` (every rank writes its own shards of the model and the
optimiser; replicated tensors once) plus `state.pt` (rank 0: batch source, RNG, scaler, run state; no
weights), so no rank ever holds the whole model or optimiser. Nothing is gathered: FSDP2 saves and loads
its DTensor shards, and DCP reshards on load when the world size changes. `state.pt` is written after
every rank's shards and the directory is renamed into place, so a half-written checkpoint is never the
latest. Single-process runs keep the one-file `state.pt` (train/checkpoint.py); `load_payload` reads both.

`train/export.py` turns any checkpoint into the single-directory model format (`model/`) for inference and
evaluation, in one process without a process group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from florenz.errors import FlorenzError
from florenz.train import checkpoint as ckpt
from florenz.train.distributed import DistEnv, barrier, broadcast_object

DCP_DIR = "dcp"


def save_sharded(run_dir: Path, step: int, model: nn.Module, opt, extra: dict[str, Any], keep: int,
                 env: DistEnv) -> None:
    """Collective: every rank writes its shards; rank 0 writes `state.pt` (with `extra`) and publishes."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    tmp = ckpt.temp_dir(run_dir, step, "-dcp") if env.is_main else None
    tmp = Path(broadcast_object(str(tmp), env))
    model_sd, opt_sd = get_state_dict(model, opt)
    dcp.save({"model": model_sd, "optimizer": opt_sd}, checkpoint_id=str(tmp / DCP_DIR))
    barrier(env)  # all shards on disk before the checkpoint is marked complete
    if env.is_main:
        ckpt.write_state(tmp, {**extra, "sharded": True})
        ckpt.publish(run_dir, step, tmp, keep)
    barrier(env)


def load_payload(path: Path) -> dict[str, Any]:
    """A checkpoint's `state.pt`; for a sharded one also checks that its shard index is there."""
    payload = ckpt.load_checkpoint(path)
    if payload.get("sharded") and not (Path(path) / DCP_DIR / ".metadata").is_file():
        raise FlorenzError(f"unreadable checkpoint {path}: its sharded weights ({DCP_DIR}/.metadata) are missing")
    payload["path"] = str(path)
    return payload


def load_model(model: nn.Module, payload: dict[str, Any]) -> None:
    """Model weights of a sharded checkpoint into `model` (FSDP2-wrapped or not, any world size)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict

    state = {"model": get_model_state_dict(model)}
    _load(state, payload)
    set_model_state_dict(model, state["model"])


def load_optimizer(model: nn.Module, opt, payload: dict[str, Any]) -> None:
    """Optimiser state of a sharded checkpoint into `opt` (its state is created first, then filled in place)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

    state = {"optimizer": get_optimizer_state_dict(model, opt)}
    _load(state, payload)
    set_optimizer_state_dict(model, opt, state["optimizer"])


def model_state(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """The full model state dict of any checkpoint, read into a plain (unwrapped, one-process) `model`."""
    payload = load_payload(path)
    if not payload.get("sharded"):
        return payload["model"]
    state = {"model": model.state_dict()}
    _load(state, payload)
    return state["model"]


def _load(state: dict, payload: dict[str, Any]) -> None:
    import torch.distributed.checkpoint as dcp

    try:
        import warnings

        import torch.distributed as dist

        one_process = not (dist.is_available() and dist.is_initialized())  # e.g. `florenz export`, eval
        with warnings.catch_warnings():  # torch warns on every single-process load, even when asked for one
            warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)
            dcp.load(state, checkpoint_id=str(Path(payload["path"]) / DCP_DIR), no_dist=one_process)
    except Exception as e:  # missing shard files, a foreign layout
        raise FlorenzError(f"unreadable sharded checkpoint {payload['path']}: {type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}") from None
