"""`florenz.load(PATH)`: caption and translate with a trained checkpoint in one line.

    model = florenz.load("runs/r1")               # a run dir or its model/ dir
    model.caption(["cat.jpg"], lang="fr")          # -> ["un petit chat ..."]
    model.translate(["a red circle"], lang="de")   # text-only: a blank image stands in

Generation is transformers' `generate()` (florenz.models.prefix forces and strips caption prefixes); on a GPU
the model runs in bf16 (or fp16 where bf16 is unsupported).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from florenz.data.shards import Sample
from florenz.errors import FlorenzError
from florenz.inference.images import ImageLike, open_image
from florenz.io import read_json
from florenz.languages import known_languages
from florenz.prompts import CAPTION_STYLES


def resolve_model_dir(path: str | Path) -> Path:
    """A model directory (config.json of a florenz model, or an old florenz.json), or a run directory with model/."""
    from florenz.models.checkpoint import is_model_dir

    path = Path(path)
    for cand in (path, path / "model"):
        if is_model_dir(cand):
            return cand
    raise FlorenzError(f"no florenz checkpoint in {path} (expected a florenz config.json there or in {path / 'model'})")


def checkpoint_languages(model_dir: Path) -> list[str]:
    """Languages this checkpoint was trained with: recorded at save time, else its data's stats."""
    result = model_dir.parent / "result.json"
    if result.is_file():
        data = read_json(result).get("data")
        stats = Path(data) / "stats.json" if data else None
        if stats and stats.is_file():
            splits = read_json(stats).get("splits", {})
            return sorted({k.split("/", 1)[1] for counts in splits.values() for k in counts})
    return known_languages()


class Florenz:
    """A loaded checkpoint with batched `caption` and `translate`."""

    def __init__(self, model, processor, languages: list[str], batch_size: int = 16) -> None:
        self.model, self.processor, self.languages, self.batch_size = model, processor, languages, batch_size

    @property
    def device(self) -> torch.device:
        return self.model.device

    def _check_lang(self, lang: str) -> None:
        if lang not in self.languages:
            known = ", ".join(self.languages)
            raise FlorenzError(f"this checkpoint does not know language {lang!r}; it knows: {known}")

    def caption(self, images: Sequence[ImageLike] | ImageLike, lang: str = "en", style: str = "short",
                prefix: bool = True, beams: int = 4, max_new_tokens: int = 64, return_scores: bool = False,
                **generate_kwargs):
        """One caption per image (paths, PIL images or tensors) in `lang`; the decoder prefix is forced
        (prefix=True) or left to the model, and stripped from the returned text either way. Extra keywords go
        to transformers' `generate()` (no_repeat_ngram_size, do_sample, length_penalty, ...)."""
        if style not in CAPTION_STYLES:
            raise FlorenzError(f"unknown caption style {style!r}; known: {', '.join(CAPTION_STYLES)}")
        if not isinstance(images, list | tuple):
            images = [images]
        samples = [Sample(task="caption", lang=lang, tgt="", style=style) for _ in images]
        return self._run([open_image(i) for i in images], samples, lang, prefix, beams, max_new_tokens, return_scores,
                         generate_kwargs)

    def translate(self, texts: Sequence[str] | str, images: Sequence[ImageLike] | None = None, lang: str = "de",
                  beams: int = 4, max_new_tokens: int = 64, return_scores: bool = False, **generate_kwargs):
        """Translate English `texts` into `lang`, with one image per text as context (or none)."""
        if isinstance(texts, str):
            texts = [texts]
        if images is not None and len(images) != len(texts):
            raise FlorenzError(f"translate: {len(images)} images for {len(texts)} texts")
        pil = [open_image(i) for i in images] if images is not None else [self.processor.blank_image()] * len(texts)
        samples = [Sample(task="translation", lang=lang, tgt="", src=t) for t in texts]
        return self._run(pil, samples, lang, False, beams, max_new_tokens, return_scores, generate_kwargs)

    @torch.no_grad()
    def _run(self, images, samples, lang, prefix, beams, max_new_tokens, return_scores, generate_kwargs):
        from florenz.models.prefix import generate_texts

        self._check_lang(lang)
        texts: list[str] = []
        scores: list[float] = []
        dtype = next(self.model.parameters()).dtype
        for lo in range(0, len(samples), self.batch_size):
            chunk = samples[lo:lo + self.batch_size]
            prompts = {k: v.to(self.device) for k, v in self.processor.prompts(chunk).items()}
            pixels = self.processor.pixel_values(images[lo:lo + self.batch_size]).to(self.device, dtype)
            t, s = generate_texts(self.model, self.processor, pixels, prompts["input_ids"], prompts["attention_mask"],
                                  tasks=[x.task for x in chunk], langs=lang, prefix=prefix, return_scores=True,
                                  num_beams=beams, max_new_tokens=max_new_tokens, **generate_kwargs)
            texts += t
            scores += s
        return (texts, scores) if return_scores else texts


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A usable torch device: default cuda if available; an unknown name or a missing GPU is a one-line error."""
    if device is None or device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise FlorenzError(f"--device {device!r} is not a device (use cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FlorenzError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    if dev.type not in ("cpu", "cuda"):
        raise FlorenzError(f"--device {device!r}: only cpu and cuda are supported")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise FlorenzError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    return dev


def load(path: str | Path, device: str | torch.device | None = None, batch_size: int = 16) -> Florenz:
    """Load a florenz checkpoint (run dir or model dir) onto `device` (default: cuda if available)."""
    from florenz.models.checkpoint import load_model

    model_dir = resolve_model_dir(path)
    device = resolve_device(device)
    model, processor = load_model(model_dir, device=device)
    if device.type == "cuda":
        model = model.to(torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return Florenz(model.eval(), processor, checkpoint_languages(model_dir), batch_size)
