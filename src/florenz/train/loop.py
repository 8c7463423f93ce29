"""The training loop: one loop for decoder-LM pre-training, vision-language pre-training and fine-tuning.

A run is a list of stages (optionally the decoder LM stage, then the vision-language stage). Each stage
has its own sample budget, freezing policy, AdamW optimiser over the trainable parameters only, and a
full cosine schedule. The loop does not know which stage it runs: it draws this rank's micro batches
from a `BatchSource` and calls the model through `TrainStep`. Checkpoints hold everything needed to
continue bit-for-bit (model, optimiser, schedule position, sampler, RNG, stage and step).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from florenz.clitools import console
from florenz.config import Config, save_config
from florenz.errors import FlorenzError
from florenz.io import check_dir_path, dir_lock
from florenz.models.freezing import apply_freezing
from florenz.train import checkpoint as ckpt
from florenz.train import dcp, rundir, setup
from florenz.train.batches import BatchSource
from florenz.train.distributed import (
    DistEnv,
    all_reduce_sum,
    barrier,
    clip_grad_norm,
    init_distributed,
    resolve_mode,
    shutdown,
    sync_replicated,
    wrap,
)
from florenz.train.logging import RunLogger
from florenz.train.schedule import CosineSchedule, set_lr
from florenz.train.step import TrainStep, is_vl_batch


@dataclass
class RunState:
    """Where the run is; saved in every checkpoint."""

    step: int = 0  # optimiser steps over all stages
    stage: int = 0  # index of the current stage
    stage_step: int = 0  # optimiser steps done in the current stage
    wall_time_s: float = 0.0  # summed over the sessions of this run (a resume adds on)
    losses: dict[str, float] = field(default_factory=dict)  # last step's loss per stage


def train_run(cfg: Config, out_dir: str | Path, resume: bool = False) -> dict:
    """Train `cfg` into run directory `out_dir` (resuming from its latest checkpoint); returns result.json."""
    env = init_distributed()
    out = check_dir_path(out_dir)
    try:
        # one process (rank 0 of a job) owns a run directory: a second `train` or sweep is refused
        with dir_lock(out, what="run directory") if env.is_main else contextlib.nullcontext():
            return _train(cfg, out, env, resume)
    finally:
        shutdown(env)


def _resume_point(out: Path, resume: bool) -> tuple[Path | None, dict | None]:
    """The newest readable checkpoint and its payload; an unreadable newer one is skipped and named."""
    if not resume:
        if ckpt.list_checkpoints(out):
            raise FlorenzError(f"run directory {out} already has checkpoints; pass --resume or choose another --out")
        return None, None
    found = ckpt.list_checkpoints(out)
    for path in reversed(found):
        try:
            return path, dcp.load_payload(path)
        except FlorenzError as e:
            console.print(f"[yellow]warning:[/] {e}; trying the previous checkpoint")
    if found:
        raise FlorenzError(f"--resume: none of the {len(found)} checkpoints in {ckpt.checkpoint_dir(out)} is readable")
    return None, None


def _train(cfg: Config, out: Path, env: DistEnv, resume: bool) -> dict:
    t = cfg.train
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    latest, payload = _resume_point(out, resume)
    if latest is None:
        rundir.check_fresh(out)
    else:
        rundir.check_resume_config(cfg, out)
        if latest != ckpt.latest_checkpoint(out):
            console.print(f"resuming from {latest} (the newer checkpoints are unreadable)")
    torch.manual_seed(t.seed)
    random.seed(t.seed)
    data_dir = setup.resolve_data(cfg, env)
    model, processor = setup.build(cfg, setup.load_tokenizer(cfg, data_dir), env.device)
    tokenizer = processor.decoder_tokenizer  # the decoder-LM stage's; real presets bring theirs
    amp = setup.amp_dtype(t.precision, env.device)
    mode = resolve_mode(t.distributed, env, sum(p.numel() for p in model.parameters()))
    stages = setup.make_stages(cfg, env, data_dir, tokenizer, processor)
    fsdp_step = wrap(TrainStep(model), "fsdp", env, model.decoder_layers(), amp) if mode == "fsdp" else None
    state = RunState()
    if payload is not None:
        state = RunState(**payload["state"])
        try:
            if payload.get("sharded"):
                dcp.load_model(model, payload)
            else:
                setup.load_model_state(model, payload["model"], mode)
        except RuntimeError as e:  # e.g. a config.toml edited by hand, or a checkpoint copied from another run
            raise FlorenzError(f"checkpoint {latest} does not fit the model of this config "
                               f"({str(e).splitlines()[0]})") from None
    elif t.init_from:
        setup.init_from(model, t.init_from, mode)
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.toml")
    if t.vision_pretrain_samples > 0 and payload is None and not t.init_from:  # Florence-2's part (micro)
        from florenz.train.vision_pretrain import run_vision_pretrain

        run_vision_pretrain(cfg, model, processor, data_dir, out, env.is_main)
    logger = RunLogger(out, enabled=env.is_main)
    logger.truncate_after(state.step)
    loop = Loop(cfg, out, env, model, logger, mode, amp, fsdp_step)
    try:
        for i, stage in enumerate(stages):
            if i < state.stage or (i == state.stage and state.stage_step >= stage.steps):
                continue  # done before the interruption
            resumed = payload if (payload is not None and i == state.stage) else None
            if payload is not None and resumed is None and i == state.stage + 1:  # stage boundary: carry RNG on
                ckpt.set_rng_state(payload["rng"])
            if i > state.stage:
                state.stage, state.stage_step = i, 0
            if stage.name == "decoder_lm" and t.decoder_lm_cache and resumed is None and state.stage_step == 0:
                _cached_lm_stage(cfg, data_dir, tokenizer, loop, i, stage, state, env)
                continue
            loop.run_stage(i, stage, state, resumed)
    finally:
        logger.close()
    result = setup.finish(cfg, out, env, model, processor, stages, state, mode, fsdp_step, data_dir)
    if env.is_main:
        from florenz.train.vision_pretrain import annotate_result

        result = annotate_result(out, result)
    barrier(env)
    return result


def _cached_lm_stage(cfg: Config, data_dir: Path, tokenizer, loop: Loop, index: int, stage: setup.Stage,
                     state: RunState, env: DistEnv) -> None:
    """Load the decoder-LM stage from the sweep's cache, or train it and store it there."""
    from florenz.train.lm_cache import LMStageCache, load_stage_state, stage_state

    if env.world_size > 1:
        raise FlorenzError("train.decoder_lm_cache is for single-process runs (sweeps); unset it under torchrun")
    cache = LMStageCache.for_run(cfg, data_dir, tokenizer)
    with cache.lock():
        hit = cache.load()
        if hit is None:
            t0 = state.wall_time_s
            loop.run_stage(index, stage, state, None)
            cache.save(stage_state(loop.model, stage.freeze), ckpt.rng_state(), state.losses.get(stage.name),
                       stage.steps, state.wall_time_s - t0)
            return
    load_stage_state(loop.model, hit["model"], stage.freeze, cache.dir)  # the vision tower stays the run's
    ckpt.set_rng_state(hit["rng"])
    state.losses[stage.name] = hit["loss"]
    state.step += stage.steps
    state.stage_step = stage.steps
    loop.logger.log({"step": state.step, "stage": stage.name, "stage_step": stage.steps, "loss": hit["loss"],
                     "cached": str(cache.dir)})


@dataclass
class Loop:
    cfg: Config
    out_dir: Path
    env: DistEnv
    model: nn.Module
    logger: RunLogger
    mode: str  # none | ddp | fsdp
    amp_dtype: torch.dtype | None = None
    fsdp_step: nn.Module | None = None  # the sharded TrainStep (FSDP2 shards once per run)

    def step_module(self, stage: setup.Stage) -> nn.Module:
        if self.mode == "fsdp":
            return setup.compiled(self.fsdp_step, self.cfg.train.compile)
        # DDP registers the trainable parameters, so it is rebuilt after each stage's freezing
        step = wrap(TrainStep(self.model), self.mode, self.env, find_unused=stage.name == "decoder_lm")
        return setup.compiled(step, self.cfg.train.compile)

    def run_stage(self, index: int, stage: setup.Stage, state: RunState, resume: dict | None) -> None:
        """Train one stage to its budget, from `resume` (a checkpoint inside this stage) if given."""
        t, env = self.cfg.train, self.env
        apply_freezing(self.model, stage.freeze)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise FlorenzError(f"stage {stage.name}: freezing policy {stage.freeze!r} leaves nothing to train")
        module = self.step_module(stage)
        opt = _adamw(self.model, t.weight_decay, (t.beta1, t.beta2), stage.lr, env)
        sched = CosineSchedule(stage.lr, stage.steps, t.warmup_steps, t.min_lr_ratio)
        scaler = torch.amp.GradScaler(env.device.type) if self.amp_dtype == torch.float16 else None
        source = stage.source()
        skips = getattr(source, "skips", None)
        if skips is not None and skips.counts and state.stage_step == 0:  # counted in the log, once per run
            self.logger.log({"step": state.step, "stage": stage.name, "data_skipped": skips.summary()})
        if stage.name == "vl" and t.frozen_vision_features and self.mode == "none":
            from florenz.train.vl import with_frozen_vision

            source = with_frozen_vision(source, self.model)
        if stage.replay is not None:
            from florenz.train.replay import ReplaySource

            source = ReplaySource(source, stage.replay(), t.decoder_lm_replay)
        if resume is not None:
            if resume.get("sharded"):
                dcp.load_optimizer(self.model, opt, resume)
            else:
                setup.load_optimizer_state(self.model, opt, resume["optimizer"], self.mode)
            source.load_state_dict(resume["source"])
            if scaler is not None and resume.get("scaler"):
                scaler.load_state_dict(resume["scaler"])
            ckpt.set_rng_state(resume["rng"])
        self.logger.start_stage(stage.name, stage.steps, state.stage_step)
        t_log, samples_log, tokens_log = time.perf_counter(), 0, 0
        t_session, wall0 = time.perf_counter(), state.wall_time_s
        for stage_step in range(state.stage_step, stage.steps):
            lr = sched(stage_step)
            set_lr(opt, lr)
            batches = [_to(b, env.device) for b in source.step_batches(stage.batch_size, stage.micro_batch_size,
                                                                        env.rank, env.world_size)]
            counts = [(b["labels"] != -100).sum() for b in batches]
            n_tok = all_reduce_sum(torch.stack(counts).sum().double(), env).clamp(min=1)
            # the stage's own loss, and apart from it that of decoder-LM rows replayed in a VL step (train/replay.py)
            replayed = [stage.name == "vl" and not is_vl_batch(b) for b in batches]
            sums = torch.zeros(4, dtype=torch.float64, device=env.device)  # loss x tokens, tokens: own, replayed
            for k, (b, n) in enumerate(zip(batches, counts, strict=True)):
                with _grad_sync(module, k == len(batches) - 1), self._autocast():
                    loss = module(b)
                # token-weighted over the global batch, so the gradient does not depend on how it is split
                scaled = loss * (n * env.world_size / n_tok).to(loss.dtype)
                (scaler.scale(scaled) if scaler else scaled).backward()
                sums[2 * replayed[k]:2 * replayed[k] + 2] += torch.stack([loss.detach().double() * n, n.double()])
            sums = all_reduce_sum(sums, env)
            step_loss = float(sums[0] / sums[1].clamp(min=1))
            replay_loss = float(sums[2] / sums[3]) if any(replayed) else None
            if not math.isfinite(step_loss):
                last = ckpt.latest_checkpoint(self.out_dir)
                raise FlorenzError(f"loss is {step_loss} at step {state.step + 1} (stage {stage.name} step "
                                   f"{stage_step + 1}); last good checkpoint: {last or 'none'}")
            if self.mode == "fsdp":
                sync_replicated(module, env)
            if scaler is not None:
                scaler.unscale_(opt)
            gnorm = clip_grad_norm(params, t.max_grad_norm)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            opt.zero_grad(set_to_none=True)
            state.step += 1
            state.stage_step = stage_step + 1
            state.losses[stage.name] = step_loss
            state.wall_time_s = wall0 + time.perf_counter() - t_session
            samples_log += stage.batch_size
            tokens_log += int(n_tok)
            dt = max(time.perf_counter() - t_log, 1e-9)
            self.logger.advance(step_loss, samples_log / dt)
            last_step = state.stage_step == stage.steps
            if state.stage_step % max(1, t.log_every) == 0 or last_step:
                self.logger.log({"step": state.step, "stage": stage.name, "stage_step": state.stage_step,
                                 "samples": state.stage_step * stage.batch_size, "loss": step_loss, "lr": lr,
                                 "grad_norm": float(gnorm), "samples_per_s": samples_log / dt,
                                 "tokens_per_s": tokens_log / dt, "time_s": round(state.wall_time_s, 3),
                                 **({"replay_loss": replay_loss} if replay_loss is not None else {})})
                t_log, samples_log, tokens_log = time.perf_counter(), 0, 0
            if last_step or (t.checkpoint_every > 0 and state.step % t.checkpoint_every == 0):
                self.save(state, opt, source, scaler)
        if hasattr(source, "close"):  # a streamed source's DataLoader workers end with the stage
            source.close()

    def _autocast(self):
        if self.amp_dtype is None or self.mode == "fsdp":  # FSDP2 casts through its MixedPrecisionPolicy
            return contextlib.nullcontext()
        return torch.autocast(self.env.device.type, dtype=self.amp_dtype)

    def save(self, state: RunState, opt, source: BatchSource, scaler) -> None:
        extra = {"source": source.state_dict(), "scaler": scaler.state_dict() if scaler else None,
                 "rng": ckpt.rng_state(), "state": asdict(state)}
        keep = self.cfg.train.keep_checkpoints
        if self.mode != "none":  # sharded: every rank writes its part, nothing is gathered (train/dcp.py)
            dcp.save_sharded(self.out_dir, state.step, self.model, opt, extra, keep, self.env)
            return
        ckpt.save_checkpoint(self.out_dir, state.step, {"model": self.model.state_dict(),
                                                        "optimizer": opt.state_dict(), **extra}, keep=keep)


def _adamw(model: nn.Module, weight_decay: float, betas: tuple[float, float], lr: float, env: DistEnv):
    """AdamW over the trainable parameters only; no decay on biases, norms and gates (ndim < 2)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = env.device.type == "cuda"
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas, fused=fused)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _grad_sync(module: nn.Module, sync: bool):
    """Reduce gradients only on the last micro batch of a step (DDP no_sync / FSDP2 flag)."""
    if hasattr(module, "set_requires_gradient_sync"):  # FSDP2
        module.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()
    if not sync and hasattr(module, "no_sync"):
        return module.no_sync()
    return contextlib.nullcontext()
