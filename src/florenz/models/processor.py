"""Images and prompts -> model tensors, and generated ids -> text: a transformers `ProcessorMixin`.

It holds transformers' own image processor (`CLIPImageProcessorPil`, the class Florence-2's processor uses,
configured to the model's size: 768 / 224 real, 64 micro; bicubic, ImageNet mean/std), the decoder tokenizer
(`tokenizer`, saved at the top of the directory, so it is also what `AutoTokenizer` loads and what decodes
generated ids) and the encoder tokenizer (`encoder_tokenizer`, saved in `encoder_tokenizer/`); for the micro
world both are the data's tokenizer. The paper's prompts and decoder prefixes come from florenz.prompts.
`save_pretrained` / `from_pretrained` (and `AutoProcessor`, registered in florenz.py) round-trip a directory.

Encoder input: [bos] + prompt + [eos]. Decoder: decoder_input_ids = [bos] + target, labels = target + [eos]
(padding labels = -100).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature, CLIPImageProcessorPil
from transformers.processing_utils import ProcessorMixin

from florenz.data.shards import Sample
from florenz.errors import FlorenzError
from florenz.languages import get_language
from florenz.prompts import decoder_prefix, decoder_target, encoder_prompt
from florenz.prompts import strip_prefix as _strip_prefix

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BICUBIC = 3  # PIL.Image.BICUBIC


def image_processor_for(image_size: int) -> CLIPImageProcessorPil:
    """Resize to s x s (bicubic, no crop), rescale 1/255, ImageNet normalisation: Florence-2's preprocessing."""
    if image_size <= 0:
        raise FlorenzError(f"image_size must be positive, got {image_size}")
    square = {"height": image_size, "width": image_size}
    return CLIPImageProcessorPil(size=square, crop_size=square, do_center_crop=False, resample=BICUBIC,
                                 image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD), do_convert_rgb=True)


class FlorenzProcessor(ProcessorMixin):
    def __init__(self, image_processor=None, tokenizer=None, encoder_tokenizer=None, **kwargs) -> None:
        super().__init__(image_processor, tokenizer, encoder_tokenizer, **kwargs)
        size = self.image_processor.size
        if size.get("height") != size.get("width") or not size.get("height"):
            raise FlorenzError(f"the image processor must resize to a square, got size {dict(size)}")

    @classmethod
    def for_tokenizers(cls, encoder_tokenizer, decoder_tokenizer, image_size: int) -> FlorenzProcessor:
        """The processor of a model built from these tokenizers (one object twice for the micro world)."""
        return cls(image_processor_for(image_size), decoder_tokenizer, encoder_tokenizer)

    @property
    def decoder_tokenizer(self):
        return self.tokenizer

    @property
    def image_size(self) -> int:
        return int(self.image_processor.size["height"])

    # -- images ---------------------------------------------------------------------------------------------

    def blank_image(self):
        """A black image at the model's input size: what text-only input (translation without a picture,
        benchmarks evaluated without their images) feeds the vision tower."""
        from PIL import Image

        return Image.new("RGB", (self.image_size, self.image_size))

    def pixel_values(self, images: Sequence, out: torch.Tensor | None = None) -> torch.Tensor:
        """Images -> (N, 3, s, s) float tensor through the image processor. A uint8 array [N, s, s, 3] at the
        model's size (training batches) takes one vectorised pass with the same float ops, which gives the same
        bits (a test compares them) at a fraction of the per-image cost, written into `out` when given (the
        trainer's own buffer); arrays of other sizes go image by image (resize included)."""
        s, ip = self.image_size, self.image_processor
        if isinstance(images, np.ndarray) and images.shape[1:] == (s, s, 3) and _plain(ip):
            if not images.flags.writeable:  # e.g. memory-mapped tables: torch will not wrap read-only memory quietly
                images = images.copy()
            x = torch.empty(len(images), 3, s, s) if out is None else out
            x.copy_(torch.from_numpy(images).permute(0, 3, 1, 2))  # uint8 -> float, straight into NCHW
            mean, std = torch.tensor(ip.image_mean).view(1, 3, 1, 1), torch.tensor(ip.image_std).view(1, 3, 1, 1)
            return x.div_(255.0).sub_(mean).div_(std)
        if len(images) == 0:
            return torch.empty(0, 3, s, s)
        if isinstance(images, np.ndarray):
            from PIL import Image

            images = [Image.fromarray(x) for x in images]
        return ip(list(images), return_tensors="pt")["pixel_values"]

    # -- text -----------------------------------------------------------------------------------------------

    def _ids(self, tok, text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    def _encoder_row(self, prompt: str, max_tokens: int) -> list[int]:
        tok = self.encoder_tokenizer
        return [tok.bos_token_id, *self._ids(tok, prompt)[: max(max_tokens - 2, 0)], tok.eos_token_id]

    def encoder_ids(self, sample: Sample, max_tokens: int) -> list[int]:
        return self._encoder_row(encoder_prompt(sample.task, sample.lang, sample.style, sample.src), max_tokens)

    def prefix_ids(self, lang: str) -> list[int]:
        """The language's decoder prefix as decoder tokens (forced after BOS in 'with prefix' generation)."""
        return self._ids(self.decoder_tokenizer, decoder_prefix(lang))

    def prompts(self, samples: Sequence[Sample], max_source_tokens: int = 256) -> dict[str, torch.Tensor]:
        """Encoder prompt tensors: input_ids + attention_mask, right-padded."""
        rows = [self.encoder_ids(s, max_source_tokens) for s in samples]
        return dict(zip(("input_ids", "attention_mask"), _pad(rows, self.encoder_tokenizer.pad_token_id), strict=True))

    def __call__(self, images=None, text: str | Sequence[str] | None = None, max_source_tokens: int = 256,
                 **kwargs) -> BatchFeature:
        """transformers' processor call: `pixel_values` for `images`, encoder `input_ids` / `attention_mask`
        for prompt strings `text` (wrapped in [bos] ... [eos]); paper prompts from samples: `prompts`."""
        out = {}
        if images is not None:
            out["pixel_values"] = self.pixel_values(images if isinstance(images, (list, tuple, np.ndarray))
                                                    else [images])
        if text is not None:
            rows = [self._encoder_row(t, max_source_tokens) for t in ([text] if isinstance(text, str) else text)]
            out.update(zip(("input_ids", "attention_mask"), _pad(rows, self.encoder_tokenizer.pad_token_id),
                           strict=True))
        return BatchFeature(out)

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


def _plain(ip) -> bool:
    """The image processor only rescales by 1/255 and normalises (what the vectorised path computes)."""
    return bool(ip.do_rescale and ip.rescale_factor == 1 / 255 and ip.do_normalize)


def _pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask
