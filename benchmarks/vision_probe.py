"""Linear probes on a trained micro model's frozen features: is the scene's content in what the decoder reads?

For each run directory given, renders images of its world that neither the vision pre-training stage nor the
study trained on (the stage's own seed stream, past the images it drew from), and fits one linear softmax probe
per object-slot field (objects left to right; shape or "no object", colour, size) on
- `visual`: the projector's visual tokens (what the frozen tower gives the encoder), flattened;
- `encoder`: the encoder's states at the visual positions, with the English caption prompt after them.
Accuracy is on images the probe was not fitted on, over slots that hold an object (shape: all slots). If a
linear probe reads shape/colour from the features but the captions do not name them, the vision-language stage
is the bottleneck; if the probe cannot, the vision stage is.

    PYTHONPATH=src python benchmarks/vision_probe.py RUN_DIR [RUN_DIR ...] [--fit 3000 --test 1000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FIELDS = ("shape", "color", "size")


def features(run: Path, n_skip: int, n: int) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    from florenz.evaluate.loss import EvalSample
    from florenz.evaluate.runner import load_for_eval
    from florenz.io import read_json
    from florenz.train.vision_pretrain import render_set, world_settings
    from florenz.train.vl import pixel_values

    data = Path(read_json(run / "result.json")["data"])
    model, processor = load_for_eval(run / "model")
    images, labels, _ = render_set(world_settings(data), n_skip + n)
    images, labels = images[n_skip:], labels[n_skip:]
    prompt = processor.prompts([EvalSample("caption", "en")])  # the English caption prompt, as in training
    out: dict[str, list] = {"visual": [], "encoder": []}
    with torch.no_grad():
        for i in range(0, n, 128):
            vis = model.visual_tokens(pixel_values(processor, images[i:i + 128]))
            ids = prompt["input_ids"].expand(vis.shape[0], -1)
            enc = model.encode(None, ids, prompt["attention_mask"].expand_as(ids), visual_tokens=vis)
            out["visual"].append(vis.flatten(1))
            out["encoder"].append(enc.states[:, : vis.shape[1]].flatten(1))
    return {k: torch.cat(v) for k, v in out.items()}, labels


def probe(x: torch.Tensor, y: np.ndarray, n_fit: int, steps: int = 300) -> float:
    """Linear softmax probe (L2-regularised, full-batch LBFGS) fitted on the first n_fit rows; test accuracy %."""
    keep = y != -100
    x, y = x[keep], torch.from_numpy(y[keep])
    n_fit = int(keep[:n_fit].sum())
    mu, sd = x[:n_fit].mean(0), x[:n_fit].std(0) + 1e-6
    x = (x - mu) / sd
    w = torch.zeros(x.shape[1], int(y.max()) + 1, requires_grad=True)
    b = torch.zeros(int(y.max()) + 1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x[:n_fit] @ w + b, y[:n_fit]) + 1e-3 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((x[n_fit:] @ w + b).argmax(-1) == y[n_fit:]).float().mean() * 100)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--fit", type=int, default=3000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--skip", type=int, default=8000, help="the stage's images (train.vision_pretrain_images)")
    a = ap.parse_args()
    torch.manual_seed(0)
    print("| run | features | " + " | ".join(f"slot{k} {f}" for k in range(2) for f in FIELDS) + " |")
    for run in a.runs:
        feats, labels = features(run, a.skip, a.fit + a.test)
        for name, x in feats.items():
            accs = [probe(x, labels[:, k, j].copy(), a.fit) for k in range(min(2, labels.shape[1]))
                    for j in range(len(FIELDS))]
            print(f"| {run.name} | {name} | " + " | ".join(f"{v:.1f}" for v in accs) + " |", flush=True)


if __name__ == "__main__":
    main()
