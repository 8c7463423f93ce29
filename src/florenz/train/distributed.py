"""Process groups and model wrapping: one process (none), DDP, or FSDP2 per decoder layer.

Launched with `torchrun`, every rank reads RANK / WORLD_SIZE / LOCAL_RANK. All ranks draw the same
global batch and each trains its slice, so a run's result does not depend on the world size beyond
floating-point reduction order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from florenz.errors import FlorenzError

MODES = ("auto", "none", "ddp", "fsdp")
FSDP_MIN_PARAMS = 2_000_000_000  # auto: shard models this large (the F-3.5B / F-11.2B presets), DDP below


@dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistEnv:
    """Join the torchrun process group if there is one (NCCL on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    made = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        made = True
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=device, initialized_here=made)


def shutdown(env: DistEnv) -> None:
    if env.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def resolve_mode(mode: str, env: DistEnv, n_params: int) -> str:
    if mode not in MODES:
        raise FlorenzError(f"train.distributed must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "auto":
        if not env.active:
            return "none"
        return "fsdp" if n_params >= FSDP_MIN_PARAMS else "ddp"
    if mode in ("ddp", "fsdp") and not env.active:
        return "none"  # a single process needs no wrapper; the same config runs under torchrun or not
    if mode == "none" and env.active:
        raise FlorenzError(f"train.distributed=none but WORLD_SIZE={env.world_size}; use ddp or fsdp")
    return mode


def wrap(module: nn.Module, mode: str, env: DistEnv, layers: list[nn.Module] | None = None,
         param_dtype: torch.dtype | None = None, find_unused: bool = False) -> nn.Module:
    """DDP around the module, or FSDP2 `fully_shard` per decoder layer and then the root."""
    if mode == "none":
        return module
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [env.device.index] if env.device.type == "cuda" else None
        return DDP(module, device_ids=ids, find_unused_parameters=find_unused)
    if mode == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32) if param_dtype else None
        kw = {"mp_policy": mp} if mp is not None else {}
        scalars = {p for p in module.parameters() if p.ndim == 0}  # e.g. the cross-attention gates g
        for layer in layers or []:
            fully_shard(layer, ignored_params=scalars, **kw)
        fully_shard(module, ignored_params=scalars, **kw)
        module._florenz_replicated = sorted(scalars, key=id)  # noqa: SLF001  (kept replicated, see sync_replicated)
        return module
    raise FlorenzError(f"unknown distributed mode {mode!r}")


def sync_replicated(module: nn.Module, env: DistEnv) -> None:
    """FSDP2 cannot shard 0-dim parameters, so they stay replicated: average their gradients by hand."""
    for p in getattr(module, "_florenz_replicated", []):
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(env.world_size)


def all_reduce_sum(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if env.active:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_object(obj: object, env: DistEnv) -> object:
    if not env.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(env: DistEnv) -> None:
    if env.active:
        dist.barrier()


def clip_grad_norm(params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Global grad-norm clipping; with FSDP2 some grads are sharded DTensors and some (0-dim) are replicated."""
    sharded = [p for p in params if p.grad is not None and hasattr(p.grad, "full_tensor")]
    if not sharded:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    plain = [p for p in params if p.grad is not None and not hasattr(p.grad, "full_tensor")]
    sq = torch.nn.utils.get_total_norm([p.grad for p in sharded]).full_tensor() ** 2
    if plain:
        sq = sq + torch.nn.utils.get_total_norm([p.grad for p in plain]).to(sq.device) ** 2
    total = sq.sqrt()
    torch.nn.utils.clip_grads_with_norm_(sharded, max_norm, total)
    if plain:
        torch.nn.utils.clip_grads_with_norm_(plain, max_norm, total)
    return total
