"""Claim: the paper's training step on one GPU - samples/s, peak memory and model FLOPs utilisation (MFU).

For each preset (random weights, no download) and each variant (plain, activation checkpointing, torch.compile,
both): AdamW training steps at the paper's shapes (per-device batch 32, 224 px, 128 prompt + 128 target tokens),
bf16 autocast over fp32 weights as the loop trains (train/setup.py `amp_dtype`). Model FLOPs of one step
(forward + backward, without the recompute of checkpointing) come from `FlopCounterMode`; MFU = FLOPs/s over the
device's peak (`--peak-tflops`, default 989 = H100/H200 dense bf16). Peak memory: `max_memory_allocated` on a GPU;
on CPU the process's peak RSS so far (it never falls, so later rows include earlier ones). The same script runs on
CPU at a tiny size (tests/test_gpu_step.py).

    python benchmarks/gpu_step.py                      # GPU: F-0.4B and F-3.5B, all variants
    python benchmarks/gpu_step.py --presets micro-gemma-xs --batch 2 --image-size 64 --src-tokens 8 \\
        --tgt-tokens 8 --steps 2 --device cpu --dtype fp32 --variants plain,ckpt --peak-tflops 0
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from florenz.models.build import build_from_config
from florenz.models.florenz import FlorenzConfig
from florenz.models.presets import get_preset
from florenz.models.runtime import enable_activation_checkpointing

VARIANTS = {"plain": (False, False), "ckpt": (True, False), "compile": (False, True), "ckpt+compile": (True, True)}
IDS = {"pad": 0, "eos": 1, "bos": 2}


def make_model(preset: str, image_size: int, device: torch.device) -> torch.nn.Module:
    p = get_preset(preset)
    vocab = p.decoder_vocab_size or 1500
    config = FlorenzConfig.from_preset(p, vocab, p.encoder_vocab_size or vocab, IDS, IDS, image_size)
    torch.manual_seed(0)
    return build_from_config(config, device).train()


def make_batch(model, batch: int, src: int, tgt: int, device: torch.device) -> dict[str, torch.Tensor]:
    c, g = model.config, torch.Generator(device="cpu").manual_seed(1)
    s = c.image_size
    out = {"pixel_values": torch.randn(batch, 3, s, s, generator=g),
           "input_ids": torch.randint(3, c.encoder_vocab_size, (batch, src), generator=g),
           "attention_mask": torch.ones(batch, src, dtype=torch.long),
           "decoder_input_ids": torch.randint(3, c.decoder_vocab_size, (batch, tgt), generator=g),
           "decoder_attention_mask": torch.ones(batch, tgt, dtype=torch.long),
           "labels": torch.randint(3, c.decoder_vocab_size, (batch, tgt), generator=g)}
    return {k: v.to(device) for k, v in out.items()}


def measure(preset: str, variant: str, a: argparse.Namespace, device: torch.device) -> dict:
    ckpt, compiled = VARIANTS[variant]
    model = make_model(preset, a.image_size, device)
    batch = make_batch(model, a.batch, a.src_tokens, a.tgt_tokens, device)
    dtype = {"bf16": torch.bfloat16, "fp32": None}[a.dtype]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=device.type == "cuda")
    forward = torch.compile(model, backend=a.compile_backend) if compiled else model

    def step() -> float:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = forward(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    with FlopCounterMode(display=False) as counter:  # model FLOPs: forward + backward of the uncompiled model
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(**batch).loss
        loss.backward()
    flops = counter.get_total_flops()
    opt.zero_grad(set_to_none=True)
    if ckpt:  # after counting: model FLOPs exclude the recompute
        enable_activation_checkpointing(model)
    for _ in range(a.warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(a.steps):
        last = step()
    _sync(device)
    dt = (time.perf_counter() - t0) / a.steps
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    row = {"preset": preset, "variant": variant, "device": str(device), "dtype": a.dtype, "batch": a.batch,
           "image_size": a.image_size, "tokens": f"{a.src_tokens}+{a.tgt_tokens}",
           "params": sum(p.numel() for p in model.parameters()), "step_s": round(dt, 4),
           "samples_per_s": round(a.batch / dt, 2), "peak_mem_gib": round(peak / 2**30, 3),
           "step_flops": int(flops), "achieved_tflops_per_s": round(flops / dt / 1e12, 3),
           "loss": round(float(last), 4),
           "mfu": round(flops / dt / (a.peak_tflops * 1e12), 4) if a.peak_tflops > 0 else None}
    return row


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="F-0.4B,F-3.5B")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--src-tokens", type=int, default=128)
    ap.add_argument("--tgt-tokens", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
    ap.add_argument("--compile-backend", default="inductor")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="device peak for MFU; 0 = do not compute")
    a = ap.parse_args(argv)
    unknown = set(a.variants.split(",")) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    device = torch.device(a.device)
    print(f"# {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}, torch {torch.__version__}",
          flush=True)
    rows = []
    for preset in a.presets.split(","):
        for variant in a.variants.split(","):
            try:
                row = measure(preset, variant, a, device)
            except torch.OutOfMemoryError:
                row = {"preset": preset, "variant": variant, "error": "out of memory"}
                torch.cuda.empty_cache()
            rows.append(row)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
