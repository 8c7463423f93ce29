"""Claim: `florenz train` runs the micro presets on a laptop-class CPU; prints training samples/s per preset.

For each micro preset: one real run through `train_run` (decoder LM stage + vision-language stage, the
micro config's freezing, batch 64) on a small micro world, samples/s read from log.jsonl (first logged
interval dropped as warm-up). Also the data-side cost per step (sample draw + collate) to show the loop's
own overhead is small next to the model. With `--replay R` every preset runs twice in the same process, without and
with R decoder-LM rows replayed per VL sample (train/replay.py), and the ratio of VL samples/s is printed: what the
demo's replay costs. `--freeze default` measures the paper's freezing (the demo's VL stage: vision frozen, its
tokens computed once).

    python benchmarks/train_throughput.py [--presets micro-gemma-xs,...] [--steps 12] [--threads 2]
                                          [--freeze default] [--replay 1.0] [--batch 32]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from florenz.config import load_config
from florenz.models.presets import PRESETS
from florenz.train.loop import train_run

MICRO = [name for name, p in PRESETS.items() if p.micro]


def measure(preset: str, world: Path, steps: int, batch: int, threads: int, freeze: str = "", replay: float = 0.0
            ) -> dict:
    sets = [f"data.path={world}", f"model.preset={preset}", f"train.batch_size={batch}",
            f"train.samples={steps * batch}", f"train.decoder_lm_samples={steps * batch}", "train.log_every=2",
            f"train.threads={threads}", "train.warmup_steps=2", f"train.decoder_lm_replay={replay}"]
    sets += [f"model.freeze={freeze}"] if freeze else []
    with tempfile.TemporaryDirectory() as out:
        res = train_run(load_config("micro", sets), out)
        rows = [json.loads(x) for x in (Path(out) / "log.jsonl").read_text().splitlines()]
    by_stage = {}
    for stage in ("decoder_lm", "vl"):
        r = [x for x in rows if x["stage"] == stage][1:]  # drop the first interval (warm-up, allocator)
        by_stage[stage] = sum(x["samples_per_s"] for x in r) / max(1, len(r))
    return {"preset": preset, "replay": replay, "params": res["params"], "trainable_params": res["trainable_params"],
            "vl_samples_per_s": round(by_stage["vl"], 1), "lm_samples_per_s": round(by_stage["decoder_lm"], 1),
            "flops_per_sample": res["flops_per_sample"], "final_loss": round(res["final_loss"], 4)}


def data_overhead_ms(world: Path, batch: int) -> float:
    from florenz.data.config import DataConfig
    from florenz.data.tokenizer import load_tokenizer
    from florenz.models.processor import FlorenzProcessor
    from florenz.train.vl import memory_source

    tok = load_tokenizer(world)
    src = memory_source(world, FlorenzProcessor.for_tokenizers(tok, tok, 64), DataConfig(), seed=0, micro_batch=batch)
    src.step_batches(batch, batch)
    t = time.perf_counter()
    for _ in range(20):
        src.step_batches(batch, batch)
    return (time.perf_counter() - t) / 20 * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default=",".join(MICRO))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scenes", type=int, default=2000, help="training scenes of the benchmark's micro world")
    ap.add_argument("--freeze", default="", help="freezing policy (default: the micro config's)")
    ap.add_argument("--replay", type=float, default=0.0, help="also measure with this train.decoder_lm_replay")
    args = ap.parse_args()
    from florenz.world.build import ensure_world
    from florenz.world.config import WorldConfig

    world = ensure_world(WorldConfig(train_scenes=args.scenes, heldout_scenes=50, lm_sentences=2000))
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    rows = []
    for p in args.presets.split(","):
        for r in ([0.0, args.replay] if args.replay > 0 else [0.0]):
            rows.append(measure(p, world, args.steps, args.batch, args.threads, args.freeze, r))
    overhead = data_overhead_ms(world, args.batch)
    print(f"# train throughput, batch {args.batch}, {args.threads} threads, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load avg {load0:.1f} -> {os.getloadavg()[0]:.1f}, {datetime.date.today()}")
    print(f"# freezing {args.freeze or 'as in configs/micro.toml'}")
    print(f"{'preset':16} {'replay':>6} {'P':>9} {'Pt':>9} {'VL samples/s':>13} {'LM samples/s':>13} {'F (MFLOP)':>10}")
    for r in rows:
        print(f"{r['preset']:16} {r['replay']:>6g} {r['params']:>9,} {r['trainable_params']:>9,} "
              f"{r['vl_samples_per_s']:>13.1f} {r['lm_samples_per_s']:>13.1f} {r['flops_per_sample'] / 1e6:>10.1f}")
    for a, b in zip(rows[::2], rows[1::2], strict=True) if args.replay > 0 else []:
        print(f"{a['preset']}: VL samples/s with replay {args.replay:g} / without = "
              f"{b['vl_samples_per_s'] / a['vl_samples_per_s']:.2f}")
    print(f"data side (sample draw + collate) per VL step of {args.batch}: {overhead:.2f} ms")
    print(json.dumps({"rows": rows, "data_ms_per_step": round(overhead, 3)}))


if __name__ == "__main__":
    main()
