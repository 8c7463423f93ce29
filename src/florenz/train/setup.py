"""Everything around the loop: data, tokenizer, model, stages, state dicts, and the run's result.json.

Kept apart from `loop.py` so the loop reads as one loop. The stage list is where the decoder LM
pre-training (micro models) and the vision-language stage are described in the same terms.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from florenz.config import Config
from florenz.errors import FlorenzError
from florenz.io import write_json
from florenz.models.freezing import apply_freezing, count_parameters
from florenz.train.batches import BatchSource
from florenz.train.compute import forward_flops_per_sample, training_compute
from florenz.train.distributed import DistEnv, barrier
from florenz.train.rundir import clear_evaluation

RESULT_FILE = "result.json"


@dataclass
class Stage:
    name: str  # "decoder_lm" | "vl"
    samples: int  # budget in seen samples
    batch_size: int  # global batch
    micro_batch_size: int  # per rank and forward pass
    lr: float
    freeze: str  # freezing policy applied at the start of the stage
    source: Callable[[], BatchSource]  # built when the stage runs (the LM text is read only if needed)
    replay: Callable[[], BatchSource] | None = None  # decoder-LM rows mixed into each step (train/replay.py)

    @property
    def steps(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    @property
    def seen_samples(self) -> int:
        return self.steps * self.batch_size


def resolve_data(cfg: Config, env: DistEnv) -> Path:
    """cfg.data.path, or the micro world of cfg.world (built by rank 0, then read by all)."""
    if cfg.data.path:
        path = Path(cfg.data.path)
        if not path.is_dir():
            raise FlorenzError(f"data.path not found: {path}")
        return path
    from florenz.world.build import ensure_world

    if env.is_main:
        path = ensure_world(cfg.world, cfg.data.cache_dir or None)
    barrier(env)
    return ensure_world(cfg.world, cfg.data.cache_dir or None) if not env.is_main else path


def load_tokenizer(cfg: Config, data_dir: Path):
    """The data's tokenizer for micro presets; None where the builder reads its own (real presets from their
    checkpoints, or `model.tokenizer_path`)."""
    from florenz.data.tokenizer import load_tokenizer as load
    from florenz.models.presets import get_preset

    if not get_preset(cfg.model.preset).micro or cfg.model.tokenizer_path:
        return None
    return load(data_dir)


def build(cfg: Config, tokenizer, device: torch.device):
    """(model in train mode on `device`, processor) from the one builder (florenz.models.build), run as configured
    (attention kernel, activation checkpointing: models/runtime.py)."""
    from florenz.models.build import build as build_model_and_processor
    from florenz.models.runtime import enable_activation_checkpointing, set_attn_implementation

    model, processor = build_model_and_processor(cfg.model, tokenizer=tokenizer, device="cpu")
    set_attn_implementation(model, cfg.model.attn_implementation)
    if cfg.train.activation_checkpointing:
        enable_activation_checkpointing(model)
    return model.to(device).train(), processor


def compiled(module: nn.Module, backend: str) -> nn.Module:
    """`torch.compile` of the train step (train.compile: a backend name, or off). A wrapper, so the uncompiled
    module stays usable for FLOP counting; DDP / FSDP2 attributes are reached through it."""
    return module if backend == "off" else torch.compile(module, backend=backend)


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None = fp32. auto: bf16 on GPUs that support it, else fp16 (with loss scaling); fp32 on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    table = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in table:
        raise FlorenzError(f"train.precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise FlorenzError("train.precision=fp16 needs a GPU (use fp32 or bf16 on CPU)")
    return table[precision]


def micro_batch(cfg: Config, batch: int, world_size: int, what: str) -> int:
    mb = cfg.train.micro_batch_size or batch // world_size
    if batch <= 0 or mb <= 0 or batch % (mb * world_size) != 0:
        raise FlorenzError(f"{what}: global batch {batch} must be a positive multiple of train.micro_batch_size "
                           f"({mb}) x world size ({world_size})")
    return mb


def make_stages(cfg: Config, env: DistEnv, data_dir: Path, tokenizer, processor) -> list[Stage]:
    """[decoder LM stage if configured] + the vision-language stage."""
    from florenz.train.decoder_lm import LM_FREEZE, DecoderLMSource
    from florenz.train.stream_source import ShardRecords, StreamSource

    t, d = cfg.train, cfg.data
    if t.samples < t.batch_size:
        raise FlorenzError(f"train.samples ({t.samples}) must be at least train.batch_size ({t.batch_size})")
    mb = micro_batch(cfg, t.batch_size, env.world_size, "train.batch_size")
    if t.vision_pretrain_samples:
        from florenz.train.vision_pretrain import check_settings

        check_settings(t, env.world_size)
    stages, replay = [], None
    if t.decoder_lm_replay > 0 and not (t.decoder_lm_languages and t.decoder_lm_samples > 0):
        raise FlorenzError("train.decoder_lm_replay replays the decoder-LM stage's text: set "
                           "train.decoder_lm_languages and train.decoder_lm_samples > 0 too")
    if t.decoder_lm_replay > 0 and env.world_size > 1:
        raise FlorenzError("train.decoder_lm_replay is for single-process micro runs; unset it under torchrun")
    if t.decoder_lm_languages and t.decoder_lm_samples > 0:
        from florenz.languages import check_languages

        langs = check_languages(t.decoder_lm_languages, "train.decoder_lm_languages")

        def lm_source(seed: int) -> Callable[[], BatchSource]:
            return functools.cache(lambda: DecoderLMSource(data_dir, langs, tokenizer, d.max_target_tokens, seed,
                                                           d.cache_dir))

        stages.append(Stage("decoder_lm", t.decoder_lm_samples, t.batch_size, mb, t.decoder_lm_lr, LM_FREEZE,
                            lm_source(t.seed)))
        replay = lm_source(t.seed + 1) if t.decoder_lm_replay > 0 else None  # its own draw order

    def vl_records():  # one data path; data.loader says where the records are (train/stream_source.py)
        if d.loader == "stream":
            return ShardRecords(data_dir, processor)
        from florenz.train.vl import MemoryRecords

        return MemoryRecords.cached(data_dir, processor, d)

    vl = functools.cache(lambda: StreamSource(vl_records(), d, t.seed, mb, env.rank, env.world_size))
    stages.append(Stage("vl", t.samples, t.batch_size, mb, t.lr, cfg.model.freeze, vl, replay))
    return stages


def load_model_state(model: nn.Module, state: dict, mode: str) -> None:
    if mode == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True))
        return
    model.load_state_dict(state)


def load_optimizer_state(model: nn.Module, opt, state: dict, mode: str) -> None:
    if mode == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(model, opt, state, options=StateDictOptions(full_state_dict=True))
        return
    opt.load_state_dict(state)


def init_from(model: nn.Module, path: str, mode: str) -> None:
    """Start from another run's weights (fine-tuning): a run directory, its `model/` directory or one of its
    checkpoints (what `florenz eval` accepts)."""
    from florenz.models.checkpoint import WEIGHTS_FILE, load_state

    p = Path(path)
    if not (p / "state.pt").is_file() and not (p / WEIGHTS_FILE).is_file() and (p / "model" / WEIGHTS_FILE).is_file():
        p = p / "model"  # a run directory
    if (p / "state.pt").is_file():
        from florenz.train import dcp

        payload = dcp.load_payload(p)
        if payload.get("sharded"):  # a distributed run's checkpoint, read into this model however it is wrapped
            dcp.load_model(model, payload)
            return
        state = {k: v for k, v in payload["model"].items() if k != "lm_head.weight"}
    elif (p / WEIGHTS_FILE).is_file():
        from safetensors.torch import load_file

        state = load_file(str(p / WEIGHTS_FILE))
    else:
        raise FlorenzError(f"train.init_from: {p} holds neither a checkpoint (state.pt) nor a model ({WEIGHTS_FILE}), "
                           "nor is it a run directory with model/")
    if mode == "fsdp":
        load_model_state(model, {**state, "lm_head.weight": state["decoder.embed_tokens.weight"]}, mode)
    else:
        load_state(model, state, f"train.init_from {p}")


def finish(cfg: Config, out: Path, env: DistEnv, model: nn.Module, processor, stages: list[Stage], state,
           mode: str, fsdp_step: nn.Module | None, data_dir: Path) -> dict:
    """Measure F, write `model/` and result.json (rank 0); every rank returns the result."""
    from florenz.train.step import TrainStep

    vl, lm = stages[-1], (stages[0] if len(stages) > 1 else None)
    step = fsdp_step if mode == "fsdp" else TrainStep(model)
    # The VL stage's freezing, applied here too: a resume of a finished run skips every stage (no freezing
    # was applied), and result.json must be the same whichever path led here.
    apply_freezing(model, vl.freeze)
    P, Pt = count_parameters(model)  # Pt is the VL stage's trainable share
    F = _flops(step, vl, env)
    result = {
        "preset": cfg.model.preset, "decoder_kind": getattr(model.config, "decoder_kind", ""),
        "params": P, "trainable_params": Pt, "samples": vl.seen_samples,
        "decoder_languages": len(cfg.train.decoder_lm_languages) if lm else 0, "seed": cfg.train.seed,
        "wall_time_s": round(state.wall_time_s, 3), "flops_per_sample": F,
        "compute": training_compute(vl.seen_samples, F, P, Pt), "final_loss": state.losses.get("vl"),
        "data": str(data_dir), "steps": vl.steps, "batch_size": vl.batch_size, "world_size": env.world_size,
        "distributed": mode, "precision": cfg.train.precision,
        "samples_per_s": round((vl.seen_samples + (lm.seen_samples if lm else 0)) / max(state.wall_time_s, 1e-9), 2),
        "decoder_lm_languages": list(cfg.train.decoder_lm_languages) if lm else [],
        "decoder_lm_samples": lm.seen_samples if lm else 0, "decoder_lm_final_loss": state.losses.get("decoder_lm"),
    }
    skips = getattr(vl.source(), "skips", None)
    if skips is not None:  # unusable training data, by reason (DESIGN.md: skipped and counted, never silent)
        result["data_skipped"] = skips.summary()
    if lm is not None:
        from florenz.train.decoder_lm import LM_FREEZE

        apply_freezing(model, LM_FREEZE)  # the LM stage's own Pt for its separate compute figure
        P_lm, Pt_lm = count_parameters(model)
        F_lm = _flops(step, lm, env)
        apply_freezing(model, vl.freeze)
        result.update(decoder_lm_flops_per_sample=F_lm,
                      decoder_lm_compute=training_compute(lm.seen_samples, F_lm, P_lm, Pt_lm))
        if vl.replay is not None:  # replayed LM rows are not VL samples: beside C, like the LM stage's compute
            from florenz.train.replay import lm_rows

            rows = vl.steps * lm_rows(vl.batch_size, cfg.train.decoder_lm_replay, env.world_size)
            # the LM rows train what the VL stage's freezing leaves trainable (Pt)
            result.update(decoder_lm_replay_rows=rows,
                          decoder_lm_replay_compute=training_compute(rows, F_lm, P_lm, Pt))
    if mode == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if env.is_main:
        from florenz.models.checkpoint import save_model

        if mode == "fsdp":  # an unsharded CPU copy to save
            model, _ = build(cfg, processor.decoder_tokenizer, torch.device("cpu"))
            model.load_state_dict(full)
        clear_evaluation(out)  # scores of a previous model must not be paired with this one
        save_model(model, processor, out / "model")
        write_json(out / RESULT_FILE, result)
    return result


def _flops(step: nn.Module, stage: Stage, env: DistEnv) -> float:
    """Forward FLOPs per sample on a representative micro batch (rows spread over the data), eval mode."""
    source = stage.source()
    rows = np.linspace(0, source.num_rows - 1, stage.micro_batch_size).astype(np.int64)
    batch = {k: v.to(env.device) for k, v in source.collate(rows).items()}
    was = step.training
    step.eval()
    try:
        return forward_flops_per_sample(lambda: step(batch), len(rows))
    finally:
        step.train(was)
