"""Held-out cross-entropy (teacher forcing): one implementation for the micro held-out split,
Multi30K and CoMMuTE alike.

Per sample: the token-mean CE of the decoder target (caption targets carry the language prefix, as in
training: input [bos] + y, labels y + [eos]). Per (task, language): the mean over samples. Groups (the
paper's UC / ST / SC): count-weighted means over classes, with the caption/translation coverage taken
from the training data's stats (`shards.unseen_caption_languages`), never a fixed list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from florenz.clitools import make_progress
from florenz.data.shards import Sample, class_key, unseen_caption_languages


@dataclass
class EvalSample:
    """A sample to score or generate for; `image` None means a blank (all-zeros) image (text-only)."""

    task: str
    lang: str
    tgt: str = ""
    src: str = ""
    style: str = "short"
    image: object = None  # PIL image or None
    meta: dict = field(default_factory=dict)

    @property
    def klass(self) -> str:
        return class_key(self.task, self.lang)


def pixel_batch(processor, images: Sequence) -> torch.Tensor:
    blank = None
    filled = []
    for im in images:
        if im is None:
            blank = blank or processor.blank_image()
            im = blank
        filled.append(im)
    return processor.pixel_values(filled)


def as_samples(samples: Sequence[EvalSample]) -> list[Sample]:
    return [Sample(task=s.task, lang=s.lang, tgt=s.tgt, src=s.src, style=s.style) for s in samples]


def encode_prompts(processor, samples: Sequence[EvalSample], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder prompt ids exactly as training builds them (the processor owns the format)."""
    batch = processor.prompts(as_samples(samples))
    return batch["input_ids"].to(device), batch["attention_mask"].to(device)


@torch.no_grad()
def sample_ce(model, processor, samples: Sequence[EvalSample], batch_size: int = 64, max_target_tokens: int = 128,
              desc: str = "cross-entropy") -> np.ndarray:
    """Token-mean CE of each sample's decoder target (same order as `samples`), teacher-forced
    through the processor's own training collation so that evaluation and training cannot drift."""
    device = model.device
    model.eval()
    out = np.zeros(len(samples), dtype=np.float64)
    with make_progress() as bar:
        task = bar.add_task(desc, total=len(samples), info="")
        for lo in range(0, len(samples), batch_size):
            chunk = samples[lo:lo + batch_size]
            images = [s.image if s.image is not None else processor.blank_image() for s in chunk]
            batch = processor.collate(images, as_samples(chunk), max_target_tokens=max_target_tokens)
            batch = {k: v.to(device) for k, v in batch.items()}
            labels = batch.pop("labels")
            logits = model(**batch).logits
            tok = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
            mask = (labels != -100).float()
            out[lo:lo + len(chunk)] = ((tok * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu().numpy()
            bar.advance(task, len(chunk))
    return out


def ce_per_class(samples: Sequence[EvalSample], ce: Sequence[float]) -> tuple[dict[str, float], dict[str, int]]:
    """Mean CE per 'task/lang' class and the number of samples behind each mean."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for s, v in zip(samples, ce, strict=True):
        sums[s.klass] = sums.get(s.klass, 0.0) + float(v)
        counts[s.klass] = counts.get(s.klass, 0) + 1
    return {k: sums[k] / counts[k] for k in sorted(sums)}, dict(sorted(counts.items()))


def group_languages(stats: dict) -> dict[str, list[str]]:
    """UC: caption languages without caption training data (translation only); ST: translation into
    those; SC: the languages with caption training data."""
    caption_langs, unseen = unseen_caption_languages(stats)
    return {"UC": [class_key("caption", lg) for lg in unseen], "ST": [class_key("translation", lg) for lg in unseen],
            "SC": [class_key("caption", lg) for lg in caption_langs]}


def ce_groups(per_class: dict[str, float], counts: dict[str, int], stats: dict) -> dict[str, float | None]:
    """Count-weighted mean CE of each group's classes (None when a group has no evaluated class)."""
    out: dict[str, float | None] = {}
    for name, classes in group_languages(stats).items():
        present = [c for c in classes if c in per_class and counts.get(c, 0) > 0]
        n = sum(counts[c] for c in present)
        out[name] = sum(per_class[c] * counts[c] for c in present) / n if n else None
    return out
