"""Images and prompts -> model tensors, and generated ids -> text.

Images: resize to s x s (bicubic), ImageNet mean/std (s = 224 pre-training, 768 fine-tuning, 64 micro).
Encoder input: [bos] + prompt + [eos] with the paper's prompt strings (florenz.prompts). Decoder:
decoder_input_ids = [bos] + target, labels = target + [eos] (padding labels = -100).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from florenz.data.shards import Sample
from florenz.errors import FlorenzError
from florenz.languages import get_language
from florenz.prompts import decoder_prefix, decoder_target, encoder_prompt
from florenz.prompts import strip_prefix as _strip_prefix

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Processor:
    def __init__(self, encoder_tokenizer, decoder_tokenizer, image_size: int) -> None:
        if image_size <= 0:
            raise FlorenzError(f"image_size must be positive, got {image_size}")
        self.encoder_tokenizer, self.decoder_tokenizer = encoder_tokenizer, decoder_tokenizer
        self.image_size = image_size
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    # -- images ---------------------------------------------------------------------------------------------

    def blank_image(self):
        """A black image at the model's input size: what text-only input (translation without a picture,
        benchmarks evaluated without their images) feeds the vision tower."""
        from PIL import Image

        return Image.new("RGB", (self.image_size, self.image_size))

    def pixel_values(self, images: Sequence) -> torch.Tensor:
        """PIL images -> (N, 3, s, s) float tensor, bicubic resize, ImageNet normalisation. A uint8 array
        [N, s, s, 3] at the model's size takes one vectorised pass with the same float ops (same bits)."""
        from PIL import Image

        if isinstance(images, np.ndarray) and images.shape[1:] == (self.image_size, self.image_size, 3):
            x = torch.from_numpy(images).float().div_(255.0)  # elementwise in NHWC memory order, then NCHW
            x = x.sub_(self._mean.view(1, 1, 1, 3)).div_(self._std.view(1, 1, 1, 3))
            return x.permute(0, 3, 1, 2).contiguous()

        out = []
        for img in images:
            img = img.convert("RGB")
            if img.size != (self.image_size, self.image_size):
                img = img.resize((self.image_size, self.image_size), Image.BICUBIC)
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
            out.append((x - self._mean) / self._std)
        return torch.stack(out) if out else torch.empty(0, 3, self.image_size, self.image_size)

    # -- text -----------------------------------------------------------------------------------------------

    def _ids(self, tok, text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    def encoder_ids(self, sample: Sample, max_tokens: int) -> list[int]:
        tok = self.encoder_tokenizer
        body = self._ids(tok, encoder_prompt(sample.task, sample.lang, sample.style, sample.src))
        return [tok.bos_token_id, *body[: max(max_tokens - 2, 0)], tok.eos_token_id]

    def prefix_ids(self, lang: str) -> list[int]:
        """The language's decoder prefix as decoder tokens (forced after BOS in 'with prefix' generation)."""
        return self._ids(self.decoder_tokenizer, decoder_prefix(lang))

    def prompts(self, samples: Sequence[Sample], max_source_tokens: int = 256) -> dict[str, torch.Tensor]:
        """Encoder prompt tensors: input_ids + attention_mask, right-padded."""
        rows = [self.encoder_ids(s, max_source_tokens) for s in samples]
        return dict(zip(("input_ids", "attention_mask"), _pad(rows, self.encoder_tokenizer.pad_token_id), strict=True))

    def collate(self, images: Sequence, samples: Sequence[Sample], max_source_tokens: int = 256,
                max_target_tokens: int = 128) -> dict[str, torch.Tensor]:
        """One training batch (images and samples aligned one-to-one)."""
        if len(images) != len(samples):
            raise FlorenzError(f"collate: {len(images)} images but {len(samples)} samples")
        tok = self.decoder_tokenizer
        batch = {"pixel_values": self.pixel_values(images), **self.prompts(samples, max_source_tokens)}
        targets = [self._ids(tok, decoder_target(s.task, s.lang, s.tgt))[: max(max_target_tokens - 1, 0)]
                   for s in samples]
        ids, mask = _pad([[tok.bos_token_id, *t] for t in targets], tok.pad_token_id)
        labels, _ = _pad([[*t, tok.eos_token_id] for t in targets], -100)
        batch.update(decoder_input_ids=ids, decoder_attention_mask=mask, labels=labels)
        return batch

    def decode(self, ids: Sequence[int] | torch.Tensor, lang: str | None = None, strip_prefix: bool = True) -> str:
        """Token ids -> text (special tokens dropped, stops at eos); the language's prefix stripped if asked."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        tok = self.decoder_tokenizer
        if tok.eos_token_id in ids:
            ids = ids[: ids.index(tok.eos_token_id)]
        text = tok.decode(ids, skip_special_tokens=True).strip()
        if lang is not None:
            get_language(lang)
            if strip_prefix:
                text = _strip_prefix(text, lang)
        return text


def _pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask
