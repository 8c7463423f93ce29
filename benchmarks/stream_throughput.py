"""Claim: streamed training data (data/stream.py) decodes, tokenises and collates >= 300 samples/s per DataLoader
worker, with peak RSS that does not grow with the number of shards.

Writes synthetic records into WebDataset shards (224 px JPEGs of random blocks, 3-5 annotations per image over
the paper's 7 task-language classes), then for 1, 2 and 4 workers streams micro batches of 32 through
`StreamSource` (shuffle buffer 1,000, the processor at 224 px) and reports samples/s and peak RSS (the training
process plus its workers as PSS, so pages the forked workers share are counted once; sampled every 0.2 s).
A micro-world tokenizer stands in for Gemma-2's. Write the data first (`--write-only`), then measure in a fresh
process, so the writer's memory is not inherited by the workers.

    python benchmarks/stream_throughput.py --data /tmp/s20k --records 20000 --shard-size 1000 --write-only
    python benchmarks/stream_throughput.py --data /tmp/s20k --samples 6000 [--profile 2000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

CLASSES = [("caption", "en"), ("caption", "de"), ("translation", "de"), ("translation", "fr"),
           ("translation", "es"), ("translation", "ru"), ("translation", "zh")]
WORDS = ["a", "red", "blue", "green", "small", "large", "cube", "ball", "sits", "near", "under", "left", "right",
         "of", "the", "two", "three"]


def write_synthetic(out: Path, records: int, shard_size: int, image_size: int = 224, seed: int = 0,
                    classes=CLASSES, sizes: tuple[int, int] | None = None) -> Path:
    """`records` images with 3-5 annotations each (at most one per class) as train shards + stats.json (a dataset
    directory). `sizes=(lo, hi)`: photos of mixed sizes instead, each side drawn from [lo, hi) (tests of the
    per-batch resize)."""
    from PIL import Image

    from florenz.data.shards import Record, ShardWriter, write_stats

    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    out.mkdir(parents=True, exist_ok=True)
    with ShardWriter(out, "train", shard_size=shard_size) as w:
        for i in range(records):
            side = int(rng.integers(*sizes)) if sizes else image_size
            blocks = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            img = Image.fromarray(blocks).resize((side, side + i % 5 if sizes else side), Image.NEAREST)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=85)
            samples = []
            for k in rng.choice(len(classes), size=min(int(rng.integers(3, 6)), len(classes)), replace=False):
                task, lang = classes[k]
                text = " ".join(rng.choice(WORDS, size=int(rng.integers(5, 14))))
                samples.append({"task": task, "lang": lang, "style": "short", "tgt": text,
                                "src": text if task == "translation" else ""})
                counts[f"{task}/{lang}"] += 1
            w.write(Record(key=f"{i:08d}", image=buf.getvalue(), image_ext="jpg", meta={"id": i, "samples": samples}))
    write_stats(out, {"train": counts}, seed=seed)
    return out


class PeakRSS:
    """Peak resident memory of this process and its children (DataLoader workers), sampled in a thread."""

    def __init__(self) -> None:
        self.peak, self._stop = 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        """Summed PSS (proportional set size: pages shared by the forked workers counted once overall)."""
        pids, total = [os.getpid()], 0
        try:
            kids = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
            pids += [int(k) for k in kids]
        except OSError:
            pass
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.2)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def measure(data: Path, tokenizer_dir: Path, workers: int, samples: int, micro: int, buffer: int) -> dict:
    import torch

    from florenz.data.config import DataConfig
    from florenz.data.tokenizer import load_tokenizer
    from florenz.models.processor import FlorenzProcessor
    from florenz.train.stream_source import ShardRecords, StreamSource

    tok = load_tokenizer(tokenizer_dir)
    torch.set_num_threads(1)
    dcfg = DataConfig(path=str(data), loader="stream", workers=workers, shuffle_buffer=buffer)
    proc = FlorenzProcessor.for_tokenizers(tok, tok, 224)
    src = StreamSource(ShardRecords(data, proc), dcfg, seed=0, micro_batch=micro)
    with PeakRSS() as rss:
        src.step_batches(micro * max(workers, 1), micro)  # start-up: worker fork, first buffer fill
        t0, n = time.perf_counter(), 0
        while n < samples:
            n += sum(len(b["labels"]) for b in src.step_batches(micro * max(workers, 1), micro))
        dt = time.perf_counter() - t0
    total = sum(src.emitted.values())
    mix = {k: round(v / total, 3) for k, v in sorted(src.emitted.items())}
    return {"workers": workers, "samples": n, "seconds": round(dt, 2), "samples_per_s": round(n / dt, 1),
            "samples_per_s_per_worker": round(n / dt / max(workers, 1), 1), "peak_pss_mib": round(rss.peak / 2**20),
            "class_mix": mix}


def profile(data: Path, tokenizer_dir: Path, records: int, micro: int) -> dict:
    """The worker's per-sample path in this process, stage by stage (ms per record / sample): tar read + annotation
    parsing, JPEG decode + resize, tokenisation + batch assembly, the whole worker chain (shuffle buffer and
    annotation choice included), and the pixel normalisation the training process does after the transfer."""
    import torch

    from florenz.data.dataset import SkipReport, usable_samples
    from florenz.data.sampler import target_distribution
    from florenz.data.shards import decode_image, read_shard, read_stats, shard_paths
    from florenz.data.stream import ShardStream, StreamSpec, model_size_array
    from florenz.data.tokenizer import load_tokenizer
    from florenz.models.processor import FlorenzProcessor
    from florenz.train.stream_source import model_batch

    torch.set_num_threads(1)
    tok = load_tokenizer(tokenizer_dir)
    proc = FlorenzProcessor.for_tokenizers(tok, tok, 224)
    t0, recs = time.perf_counter(), []
    for path in shard_paths(data, "train"):
        for rec in read_shard(path):
            recs.append((rec, usable_samples(rec, SkipReport())))
            if len(recs) == records:
                break
        if len(recs) == records:
            break
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    for rec, _ in recs:
        model_size_array(decode_image(rec), 224)
    t_decode = time.perf_counter() - t0
    stream = ShardStream(StreamSpec(data, "train", {}, micro), proc)
    t0, batches = time.perf_counter(), []
    for i in range(0, len(recs) - micro + 1, micro):  # decode again + text: the worker's collate
        batches.append(stream._collate([(r, 0) for r in recs[i:i + micro]], SkipReport())["batch"])
    n_collated = len(batches) * micro
    t_collate = time.perf_counter() - t0 - t_decode * n_collated / len(recs)
    t0 = time.perf_counter()
    for b in batches:  # in the training process
        model_batch(proc, b)
    t_norm = time.perf_counter() - t0
    classes = sorted(read_stats(data)["splits"]["train"])
    it = iter(ShardStream(StreamSpec(data, "train", target_distribution(classes), micro, buffer=1000), proc))
    next(it)  # the buffer fill
    t0, n = time.perf_counter(), 0
    while n < records:
        n += len(next(it)["classes"])
    t_all = time.perf_counter() - t0
    ms = {"read_ms": t_read / len(recs), "decode_resize_ms": t_decode / len(recs),
          "text_and_stack_ms": t_collate / max(n_collated, 1), "chain_ms": t_all / n,
          "normalise_in_trainer_ms": t_norm / max(n_collated, 1)}
    return {"profile": {k: round(v * 1000, 3) for k, v in ms.items()}, "chain_samples_per_s": round(n / t_all, 1)}


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=6000, help="samples streamed per measurement (after warm-up)")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--micro-batch", type=int, default=32)
    ap.add_argument("--buffer", type=int, default=1000)
    ap.add_argument("--tokenizer", default="", help="a dataset dir with tokenizer.json (default: build a micro world)")
    ap.add_argument("--data", default="", help="a synthetic dataset directory: reused if it exists, else written")
    ap.add_argument("--write-only", action="store_true", help="write --data and stop (measure in a fresh process)")
    ap.add_argument("--profile", type=int, default=0, help="first profile the worker path in-process on N records")
    a = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="florenz-stream-")
    t0 = time.perf_counter()
    data = Path(a.data or Path(tmp) / "data")
    if not (data / "stats.json").is_file():
        write_synthetic(data, a.records, a.shard_size)
        print(f"# wrote {a.records} records in {time.perf_counter() - t0:.0f} s", flush=True)
    shards = sorted(data.glob("train-*.tar"))
    print(f"# {data}: {len(shards)} shards ({sum(p.stat().st_size for p in shards) / 2**20:.0f} MiB)", flush=True)
    if a.write_only:
        return []
    tok_dir = Path(a.tokenizer) if a.tokenizer else _micro_tokenizer(Path(tmp))
    rows = []
    if a.profile:
        rows.append(profile(data, tok_dir, a.profile, a.micro_batch))
        print(json.dumps(rows[-1]), flush=True)
    for w in (int(x) for x in a.workers.split(",") if x):
        rows.append(measure(data, tok_dir, w, a.samples, a.micro_batch, a.buffer))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _micro_tokenizer(tmp: Path) -> Path:
    from florenz.world.build import ensure_world
    from florenz.world.config import WorldConfig

    return ensure_world(WorldConfig(train_scenes=16, heldout_scenes=4, lm_sentences=16), tmp / "worlds")


if __name__ == "__main__":
    main()
