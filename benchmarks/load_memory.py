"""Claim: loading real checkpoints holds about one copy of the weights (peak RSS - bare RSS <= 1.3 x weights).

F-0.4B at its true architecture (random weights, saved in transformers' format by true_size.py into a
temporary directory that is deleted afterwards) is loaded through `florenz.models.build.build` (parameters
on "meta", checkpoint tensors assigned in place) in a fresh process. The bare RSS is that process with
torch, transformers and florenz's model code imported; the peak is VmHWM after the load. `--mode copy`
measures the former path for comparison (model allocated and randomly initialised, then the tensors copied in).

    python benchmarks/load_memory.py [--mode assign|copy|both] [--dir DIR (reuse/keep checkpoints)]
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(florence: str, gemma: str, mode: str) -> dict:
    """Runs inside the fresh process."""
    import torch
    import transformers  # noqa: F401 - part of the bare process

    from florenz.models import build as build_mod
    from florenz.models import pretrained
    from florenz.models.config import ModelConfig

    torch.set_num_threads(1)
    bare = _status_kib("VmRSS")
    if mode == "copy":  # the former path: a fully allocated, random-initialised model, tensors copied in
        pretrained.build_empty = build_mod.build_from_config
        pretrained.load_state = functools.partial(pretrained.load_state, assign=False)
    t0 = time.perf_counter()
    model, proc = build_mod.build(ModelConfig(preset="F-0.4B", florence_path=florence, gemma_path=gemma,
                                              image_size=224))
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    seen, weights = set(), 0
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) not in seen:
            seen.add(id(t))
            weights += t.numel() * t.element_size()
    return {"mode": mode, "params": sum(p.numel() for p in model.parameters()), "weights_bytes": weights,
            "bare_rss_bytes": bare * 1024, "peak_rss_bytes": peak * 1024,
            "load_overhead_ratio": (peak - bare) * 1024 / weights, "load_s": round(seconds, 1),
            "decoder_vocab": len(proc.decoder_tokenizer), "encoder_vocab": model.config.encoder_vocab_size}


def run(florence: Path, gemma: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(florence), str(gemma), mode], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="both", choices=["assign", "copy", "both"])
    ap.add_argument("--dir", default="", help="Where the F-0.4B checkpoints are (written if absent, kept).")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    sys.path.insert(0, str(HERE))
    from true_size import write_f04b

    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        root = Path(args.dir or tmp)
        florence, gemma = root / "florence-community" / "Florence-2-base", root / "google" / "gemma-2-2b"
        if not (florence / "model.safetensors").is_file():
            t0 = time.perf_counter()
            write_f04b(root)
            print(f"wrote F-0.4B checkpoints in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        modes = ["assign", "copy"] if args.mode == "both" else [args.mode]
        print(f"# {datetime.date.today()} {platform.machine()} {platform.python_version()}")
        for mode in modes:
            r = run(florence, gemma, mode)
            gib = 2**30
            print(f"{mode:>6}: P={r['params']:,}  weights {r['weights_bytes'] / gib:.2f} GiB  bare RSS "
                  f"{r['bare_rss_bytes'] / gib:.2f} GiB  peak RSS {r['peak_rss_bytes'] / gib:.2f} GiB  "
                  f"(peak - bare) / weights = {r['load_overhead_ratio']:.2f}  load {r['load_s']} s")
            print(json.dumps(r))


if __name__ == "__main__":
    main()
