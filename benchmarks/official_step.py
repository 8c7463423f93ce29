"""Claim: florenz's VL training step is no slower than the authors' at the same configuration, and computing the
frozen tower's visual tokens once (`train.frozen_vision_features`) makes it faster still.

Three arms, interleaved per repeat, each timing the same number of AdamW steps on the same batch shapes (random
64 px images, source and target token ids), with the paper's freezing (vision tower + projector frozen; the
Gemma-kind decoder frozen but for cross-attention, its gates and norms, and the embeddings / LM head), 1 thread:

- `official`: the authors' `FlorenceGemma2ForConditionalGeneration` (github.com/spravil/caption-via-translation;
  they recompute the tower every step) at micro-gemma-s's sizes, run by `official_step_worker.py` under an
  interpreter with their pinned transformers 4.48.1 (nothing of theirs is imported into florenz);
- `florenz-pixels`: florenz's micro-gemma-s, the tower run every step, as theirs;
- `florenz-cached`: the same model fed visual tokens computed once before the timed steps.

    python benchmarks/official_step.py --authors-repo PATH --authors-python PATH [--steps 30] [--repeats 3]

PATH: a checkout of the authors' repository (with `src/` and `data/pretrained/`) and a Python that has torch and
transformers==4.48.1 (plus einops); see benchmarks/RESULTS.md for the set-up used.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

WORKER = Path(__file__).with_name("official_step_worker.py")


def florenz_model():
    """micro-gemma-s with the tokenizer of a small micro world (its vocabulary sizes both implementations)."""
    from florenz.data.tokenizer import load_tokenizer
    from florenz.models.build import build_model
    from florenz.models.config import ModelConfig
    from florenz.models.freezing import apply_freezing
    from florenz.world.build import ensure_world
    from florenz.world.config import WorldConfig

    tok = load_tokenizer(ensure_world(WorldConfig(preset="easy", train_scenes=2000, heldout_scenes=50,
                                                  lm_sentences=2000)))
    torch.manual_seed(0)
    return apply_freezing(build_model(ModelConfig(preset="micro-gemma-s", freeze="default"), tokenizer=tok),
                          "default"), len(tok)


def florenz_seconds(model, data: list, cached: bool) -> float:
    """Seconds for len(data) - 2 AdamW steps after two warm-up steps."""
    model = copy.deepcopy(model).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    if cached:
        with torch.no_grad():
            data = [(model.visual_tokens(px), ids, labels) for px, ids, labels in data]
    key = "visual_tokens" if cached else "pixel_values"
    for i, (x, ids, labels) in enumerate(data):
        if i == 2:
            t0 = time.perf_counter()
        dec = torch.cat([torch.ones_like(labels[:, :1]), labels[:, :-1]], 1)  # [bos] + target, as the authors shift
        model(**{key: x}, input_ids=ids, attention_mask=torch.ones_like(ids), decoder_input_ids=dec,
              decoder_attention_mask=torch.ones_like(dec), labels=labels).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--authors-repo", type=Path, required=True)
    ap.add_argument("--authors-python", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--source-tokens", type=int, default=16)
    ap.add_argument("--target-tokens", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if not (a.authors_repo / "src/caption_via_translation/models/gemma2.py").is_file():
        sys.exit(f"--authors-repo {a.authors_repo}: no src/caption_via_translation/models/gemma2.py there")
    if not a.authors_python.is_file():
        sys.exit(f"--authors-python {a.authors_python}: no such interpreter")
    if a.steps < 1 or a.repeats < 1 or a.batch < 1:
        sys.exit("--steps, --repeats and --batch must be >= 1")
    torch.set_num_threads(1)
    model, vocab = florenz_model()
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randn(a.batch, 3, 64, 64, generator=gen),
             torch.randint(4, vocab, (a.batch, a.source_tokens), generator=gen),
             torch.randint(4, vocab, (a.batch, a.target_tokens), generator=gen)) for _ in range(a.steps + 2)]
    worker = [str(a.authors_python), str(WORKER), str(a.authors_repo), str(a.steps), str(a.batch), str(vocab),
              str(a.target_tokens), str(a.source_tokens), "0"]
    load0 = os.getloadavg()[0]
    sec: dict[str, list[float]] = {"official": [], "florenz-pixels": [], "florenz-cached": []}
    info: dict = {}
    for _ in range(a.repeats):
        out = subprocess.run(worker, capture_output=True, text=True, check=False)
        if out.returncode:
            sys.exit(f"the authors' step failed:\n{out.stderr[-2000:]}")
        info = json.loads(out.stdout.strip().splitlines()[-1])
        if info["params"] != sum(p.numel() for p in model.parameters()):
            sys.exit(f"not the same configuration: the authors' model has {info['params']:,} parameters")
        sec["official"].append(info["seconds"])
        for arm, cached in (("florenz-pixels", False), ("florenz-cached", True)):
            sec[arm].append(florenz_seconds(model, data, cached))
    best = {k: min(v) for k, v in sec.items()}
    n = a.steps * a.batch
    ours = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"# VL training step, micro-gemma-s sizes, batch {a.batch}, {a.steps} steps x {a.repeats} repeats (best), "
          f"1 thread, torch {torch.__version__}, {os.cpu_count()} cores, load avg {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f}, {datetime.date.today()}")
    print(f"parameters: official {info['params']:,} ({info['trainable']:,} trained), florenz {ours:,} "
          f"({trainable:,} trained)")
    for arm, s in best.items():
        print(f"{arm:15s}: {s:.2f} s ({n / s:.0f} samples/s)")
    print(f"florenz-pixels vs official: {best['official'] / best['florenz-pixels']:.2f}x; "
          f"florenz-cached vs official: {best['official'] / best['florenz-cached']:.2f}x; "
          f"florenz-cached vs florenz-pixels: {best['florenz-pixels'] / best['florenz-cached']:.2f}x")
    print(json.dumps({"seconds": sec, "official_params": info["params"], "florenz_params": ours}))


if __name__ == "__main__":
    main()
