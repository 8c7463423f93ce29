"""Optional metrics that need heavy extras: COMET (through the `comet-score` command of a separate
environment, so its pinned torch never meets ours) and CLIPScore (open_clip with a local checkpoint).

When an extra is missing, `available_*` returns a one-line message saying how to enable it; callers
print it and record None instead of failing the whole evaluation.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from florenz.errors import FlorenzError

COMET_HINT = ("COMET disabled: install unbabel-comet in a separate environment, put its `comet-score` on PATH "
              "and set eval.comet_model to a local checkpoint (e.g. wmt22-comet-da/checkpoints/model.ckpt)")
CLIP_HINT = ("CLIPScore disabled: pip install open_clip_torch and set eval.clip_checkpoint to a local "
             "open_clip checkpoint file (eval.clip_model names its architecture, e.g. ViT-B-32)")


def comet_unavailable(model: str) -> str | None:
    if not shutil.which("comet-score") or not model or not Path(model).exists():
        return COMET_HINT
    return None


def comet(srcs: Sequence[str], hyps: Sequence[str], refs: Sequence[str], model: str) -> tuple[float, str]:
    """System-level COMET (x100) and a signature naming the checkpoint."""
    msg = comet_unavailable(model)
    if msg:
        raise FlorenzError(msg)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, lines in (("src", srcs), ("hyp", hyps), ("ref", refs)):
            files[name] = Path(tmp) / f"{name}.txt"
            files[name].write_text("\n".join(x.replace("\n", " ") for x in lines) + "\n", encoding="utf-8")
        cmd = ["comet-score", "-s", str(files["src"]), "-t", str(files["hyp"]), "-r", str(files["ref"]),
               "--model", model, "--quiet", "--only_system"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FlorenzError(f"comet-score failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    found = re.findall(r"score:\s*([-\d.]+)", proc.stdout)
    if not found:
        raise FlorenzError(f"comet-score printed no score: {proc.stdout.strip()[:200]}")
    return 100.0 * float(found[-1]), f"comet|model:{Path(model).name}|via:comet-score"


def clip_unavailable(checkpoint: str) -> str | None:
    try:
        import open_clip  # noqa: F401  # type: ignore[import-not-found]
    except ImportError:
        return CLIP_HINT
    return None if checkpoint and Path(checkpoint).is_file() else CLIP_HINT


def clipscore(images: Sequence, texts: Sequence[str], checkpoint: str, arch: str = "ViT-B-32") -> tuple[float, str]:
    """CLIPScore (Hessel et al. 2021): 100 * mean(2.5 * max(cos(image, text), 0))."""
    msg = clip_unavailable(checkpoint)
    if msg:
        raise FlorenzError(msg)
    import open_clip  # type: ignore[import-not-found]
    import torch

    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=checkpoint)
    tokenizer = open_clip.get_tokenizer(arch)
    model.eval()
    with torch.no_grad():
        img = model.encode_image(torch.stack([preprocess(im) for im in images]))
        txt = model.encode_text(tokenizer([f"A photo depicts {t}" for t in texts]))
        cos = torch.nn.functional.cosine_similarity(img, txt)
    return float(100 * (2.5 * cos.clamp(min=0)).mean()), f"clipscore|w:2.5|model:{arch}|ckpt:{Path(checkpoint).name}"
