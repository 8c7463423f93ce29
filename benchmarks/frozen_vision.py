"""Claim: with the vision tower frozen, computing each image's visual tokens once speeds up the VL stage.

One process, one micro world, one model (the paper's freezing: vision tower + projector frozen): the same
VL steps (same sample draws, same initial weights) are timed twice, interleaved per repeat, once with the
batches carrying pixels (the tower runs every step, as the official implementation does) and once with the
pre-computed tokens (`florenz.train.vl.with_frozen_vision`); the one-off feature pass is timed on its own
and included in the cached arm's total. Also checks the two arms give the same losses.

    python benchmarks/frozen_vision.py [--preset micro-gemma-s] [--steps 40] [--batch 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import time

import torch

from florenz.data.config import DataConfig
from florenz.models.build import build
from florenz.models.config import ModelConfig
from florenz.models.freezing import apply_freezing
from florenz.train.step import TrainStep
from florenz.train.vl import memory_source, with_frozen_vision


def time_steps(model, source, steps: int, batch: int, seed: int) -> tuple[float, list[float]]:
    """Seconds for `steps` AdamW steps of batch `batch`, and the losses (source rewound per arm)."""
    source.load_state_dict(source_state[seed])
    step = TrainStep(model).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    t = time.perf_counter()
    for _ in range(steps):
        (b,) = source.step_batches(batch, batch)
        loss = step(b)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return time.perf_counter() - t, losses


source_state: dict[int, dict] = {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="micro-gemma-s")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scenes", type=int, default=2000, help="training scenes of the benchmark's micro world")
    args = ap.parse_args()
    from florenz.data.tokenizer import load_tokenizer
    from florenz.world.build import ensure_world
    from florenz.world.config import WorldConfig

    torch.set_num_threads(args.threads)
    world = ensure_world(WorldConfig(train_scenes=args.scenes, heldout_scenes=50, lm_sentences=200))
    tok = load_tokenizer(world)
    mcfg = ModelConfig(preset=args.preset, freeze="default")
    torch.manual_seed(0)
    base, processor = build(mcfg, tokenizer=tok)
    base = apply_freezing(base, "default")
    pixels = memory_source(world, processor, DataConfig(), seed=0, micro_batch=args.batch)
    source_state[0] = copy.deepcopy(pixels.state_dict())
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    cached = with_frozen_vision(pixels, base)
    t_feats = time.perf_counter() - t
    assert cached is not pixels, "the vision tower is not frozen: no features"
    per_arm: dict[str, list[float]] = {"pixels": [], "cached": []}
    losses: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for arm, src in (("pixels", pixels), ("cached", cached)):
            model = copy.deepcopy(base)
            sec, losses[arm] = time_steps(model, src, args.steps, args.batch, 0)
            per_arm[arm].append(sec)
    best = {k: min(v) for k, v in per_arm.items()}
    n_samples = args.steps * args.batch
    ratio = best["pixels"] / best["cached"]
    max_dloss = max(abs(a - b) for a, b in zip(losses["pixels"], losses["cached"], strict=True))
    print(f"# frozen-vision features, {args.preset}, batch {args.batch}, {args.steps} steps x {args.repeats} repeats "
          f"(best), {args.threads} thread(s), torch {torch.__version__}, {os.cpu_count()} cores, "
          f"load avg {load0:.1f} -> {os.getloadavg()[0]:.1f}, {datetime.date.today()}")
    print(f"recompute every step : {best['pixels']:.2f} s ({n_samples / best['pixels']:.0f} samples/s)")
    print(f"features computed once: {best['cached']:.2f} s ({n_samples / best['cached']:.0f} samples/s) "
          f"+ one-off feature pass {t_feats:.2f} s for {len(pixels.records.images)} images")
    print(f"speed-up per step: {ratio:.2f}x; largest loss difference between the arms: {max_dloss:.2e}")
    print(json.dumps({"preset": args.preset, "seconds": per_arm, "feature_pass_s": round(t_feats, 3),
                      "speedup": round(ratio, 3), "max_loss_diff": max_dloss, "images": len(pixels.records.images)}))


if __name__ == "__main__":
    main()
