"""The vision pre-training stage's own held-out accuracy against its budget and settings (issue 15).

Runs `train.vision_pretrain.train_vision` alone (no VL stage) on the demo's world for each budget given, and
prints one JSON line per budget: the stage's held-out accuracy per field (shape incl. "no object", colour, size,
location bins), its final loss and wall time. This is how the demo's vision budget was chosen: the micro tower
learns colour and size early and shape late.

    PYTHONPATH=src python benchmarks/vision_stage.py --preset micro-gemma-s --samples 80000,240000 \
        --images 32000 --lr 4e-3 [--world-seed 0 --seed 0 --threads 1]
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    from florenz.config import load_config
    from florenz.train import setup
    from florenz.train.vision_pretrain import render_set, train_vision, world_settings
    from florenz.world.build import ensure_world

    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="micro-gemma-s")
    ap.add_argument("--samples", default="80000,240000", help="comma-separated budgets")
    ap.add_argument("--images", type=int, default=32000)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = load_config("demo", [f"model.preset={a.preset}", f"world.seed={a.world_seed}"])
    data = ensure_world(cfg.world, cfg.data.cache_dir or None)
    t0 = time.perf_counter()
    images, labels, heads = render_set(world_settings(data), a.images)
    render_s = time.perf_counter() - t0
    for samples in (int(s) for s in a.samples.split(",")):
        torch.manual_seed(a.seed)
        model, processor = setup.build(cfg, setup.load_tokenizer(cfg, data), torch.device("cpu"))
        t0 = time.perf_counter()
        info = train_vision(model, images, labels, heads, processor, samples, a.batch, a.lr, a.seed)
        print(json.dumps({"preset": a.preset, "samples": samples, "images": a.images, "lr": a.lr, "batch": a.batch,
                          "seed": a.seed, "world_seed": a.world_seed, "render_s": round(render_s, 1),
                          "train_s": round(time.perf_counter() - t0, 1), "final_loss": round(info["final_loss"], 3),
                          **info["heldout_accuracy"]}), flush=True)


if __name__ == "__main__":
    main()
