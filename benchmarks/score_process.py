"""Claim: `florenz score --metric cider` over 3,600 images x 5 references, as a whole process (interpreter
start, imports, reading both JSONL files, tokenising, scoring), is >= 3x faster than pycocoevalcap's
in-process `Cider().compute_score` on the same tokens.

Data: the same real Multi30K German text as `cider_speed.py` (../shared/data/multi30k), tokenised once by
florenz; the token strings are written to JSONL for the CLI and handed to pycocoevalcap as they are. Both
timings are best-of-N, interleaved, so load from other jobs on a shared machine hits both alike.

    python benchmarks/score_process.py [--images 3600] [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cider_speed import load  # noqa: E402


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3600)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from pycocoevalcap.cider.cider import Cider

    hyps, refs = load(args.images)
    gts = {i: r for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    with tempfile.TemporaryDirectory() as tmp:
        hp, rp = Path(tmp) / "hyps.jsonl", Path(tmp) / "refs.jsonl"
        _write(hp, [{"id": i, "text": h} for i, h in enumerate(hyps)])
        _write(rp, [{"id": i, "refs": r} for i, r in enumerate(refs)])
        cmd = [sys.executable, "-m", "florenz.cli", "score", "--metric", "cider", "--hyps", str(hp),
               "--refs", str(rp), "--lang", "de", "--json"]
        best_cli = best_ref = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            best_cli = min(best_cli, time.perf_counter() - t)
            t = time.perf_counter()
            ref_score, _ = Cider().compute_score(gts, res)
            best_ref = min(best_ref, time.perf_counter() - t)
    ours = json.loads(out.stdout)["score"]
    print(json.dumps({
        "images": args.images, "refs_per_image": 5, "repeats": args.repeats,
        "cider_florenz_cli": ours, "cider_pycocoevalcap": float(ref_score),
        "florenz_score_process_s": best_cli, "pycocoevalcap_in_process_s": best_ref,
        "ratio": best_ref / best_cli,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
                   f"Python {platform.python_version()}",
        "date": datetime.date.today().isoformat(),
    }, indent=2))


if __name__ == "__main__":
    main()
