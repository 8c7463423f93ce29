"""Pluggable model backends of the data pipeline, all loaded from local paths (never a hub id).

Describer: image -> detailed English description (any transformers image-to-text model).
Translator: English -> target language (transformers seq2seq MT; NLLB/M2M-style forced target BOS).
Embedder: images and texts into one contrastive space (transformers CLIP/SigLIP, or open_clip).
Each is a small protocol so users can plug in their own (a vLLM describer, a CTranslate2 translator).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch

from florenz.errors import FlorenzError

# NLLB's FLORES-200 codes for the languages of florenz's table; M2M100 uses "__xx__".
NLLB_CODES = {
    "en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "es": "spa_Latn", "ru": "rus_Cyrl",
    "zh": "zho_Hans", "cs": "ces_Latn", "ar": "arb_Arab", "ja": "jpn_Jpan", "th": "tha_Thai",
}
CONTEXT_SEP = "###"


class Describer(Protocol):
    def describe(self, images: list) -> list[str]: ...


class Translator(Protocol):
    def translate(self, texts: list[str], tgt_lang: str, contexts: list[str] | None = None) -> list[str]: ...


class Embedder(Protocol):
    def embed_images(self, images: list) -> torch.Tensor: ...

    def embed_texts(self, texts: list[str]) -> torch.Tensor: ...


def _local_dir(path: str | Path, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise FlorenzError(f"{what} model directory not found: {path} (backends load from local paths only)")
    return p


def _load_processor_parts(path: Path, what: str) -> tuple[object, object]:
    """(image processor, tokenizer) from a model dir; AutoProcessor when it works, else the two Autos."""
    from transformers import AutoImageProcessor, AutoTokenizer

    try:
        image_proc = AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise FlorenzError(f"{what} at {path}: cannot load image processor/tokenizer ({e})") from None
    return image_proc, tok


def _features(out: object) -> torch.Tensor:
    """transformers 5 returns a model output from get_*_features; older versions a tensor."""
    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    if pooled is None:
        raise FlorenzError(f"embedder returned {type(out).__name__} without pooled features")
    return pooled


class HFDescriber:
    """transformers image-to-text (VisionEncoderDecoder, BLIP, Florence-style) with an optional prompt."""

    def __init__(self, path: str | Path, max_new_tokens: int = 64, num_beams: int = 3, prompt: str = "",
                 device: str = "cpu") -> None:
        from transformers import AutoModelForImageTextToText

        p = _local_dir(path, "describer")
        try:
            self.model = AutoModelForImageTextToText.from_pretrained(str(p), local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            raise FlorenzError(f"describer at {p}: not a transformers image-to-text model ({e})") from None
        self.model.to(device).eval()
        self.image_proc, self.tok = _load_processor_parts(p, "describer")
        self.max_new_tokens, self.num_beams, self.prompt, self.device = max_new_tokens, num_beams, prompt, device

    @torch.inference_mode()
    def describe(self, images: list) -> list[str]:
        pixels = self.image_proc(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        kwargs: dict = {}
        if self.prompt:
            enc = self.tok([self.prompt] * len(images), return_tensors="pt", add_special_tokens=False)
            kwargs["input_ids"] = enc["input_ids"].to(self.device)
        out = self.model.generate(pixel_values=pixels, max_new_tokens=self.max_new_tokens,
                                  num_beams=self.num_beams, do_sample=False, **kwargs)
        texts = self.tok.batch_decode(out, skip_special_tokens=True)
        return [_strip_prompt(t, self.prompt) for t in texts]


def _strip_prompt(text: str, prompt: str) -> str:
    text = " ".join(text.split())
    if prompt and text.startswith(prompt.strip()):
        text = text[len(prompt.strip()):]
    return text.strip()


class HFTranslator:
    """Seq2seq MT with beam search; the target language is forced as the first decoder token.

    With contexts, the source is "text ### (context)" (the paper's fine-tuning recipe: the caption
    is translated knowing the whole description) and only the part before "###" is kept.
    """

    def __init__(self, path: str | Path, max_new_tokens: int = 128, num_beams: int = 4, src_lang: str = "en",
                 lang_codes: dict[str, str] | None = None, device: str = "cpu") -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        p = _local_dir(path, "translator")
        try:
            self.model = AutoModelForSeq2SeqLM.from_pretrained(str(p), local_files_only=True)
            self.tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            raise FlorenzError(f"translator at {p}: not a transformers seq2seq model ({e})") from None
        self.model.to(device).eval()
        self.max_new_tokens, self.num_beams, self.device = max_new_tokens, num_beams, device
        self.lang_codes = dict(lang_codes or {})
        if hasattr(self.tok, "src_lang"):
            code = self.lang_token(src_lang)
            if code is not None:
                self.tok.src_lang = code

    def lang_token(self, lang: str) -> str | None:
        """The model's token for a language: user mapping, NLLB code, M2M code, else None (Marian)."""
        vocab = self.tok.get_vocab()
        for cand in (self.lang_codes.get(lang), NLLB_CODES.get(lang), f"__{lang}__"):
            if cand and cand in vocab:
                return cand
        return None

    @torch.inference_mode()
    def translate(self, texts: list[str], tgt_lang: str, contexts: list[str] | None = None) -> list[str]:
        if not texts:
            return []
        code = self.lang_token(tgt_lang)
        if code is None and (self.lang_codes or any(c in self.tok.get_vocab() for c in NLLB_CODES.values())):
            raise FlorenzError(f"translator has no token for target language {tgt_lang!r}")
        srcs = list(texts) if contexts is None else [
            f"{t} {CONTEXT_SEP} ({c})" if c else t for t, c in zip(texts, contexts, strict=True)]
        enc = self.tok(srcs, return_tensors="pt", padding=True, truncation=True,
                       max_length=min(getattr(self.tok, "model_max_length", 512), 512))
        kwargs = {"forced_bos_token_id": self.tok.convert_tokens_to_ids(code)} if code else {}
        out = self.model.generate(**{k: v.to(self.device) for k, v in enc.items() if k != "token_type_ids"},
                                  max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=False,
                                  **kwargs)
        decoded = self.tok.batch_decode(out, skip_special_tokens=True)
        return [keep_before_context(d) for d in decoded]


def keep_before_context(text: str) -> str:
    """The translation of the caption only: drop the translated " ### (context)" part if present."""
    return " ".join(text.split(CONTEXT_SEP, 1)[0].split())


class HFEmbedder:
    """transformers CLIP / SigLIP: L2-normalised image and text features."""

    def __init__(self, path: str | Path, batch_size: int = 64, max_text_tokens: int = 64, device: str = "cpu") -> None:
        from transformers import AutoModel

        p = _local_dir(path, "embedder")
        try:
            self.model = AutoModel.from_pretrained(str(p), local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            raise FlorenzError(f"embedder at {p}: cannot load ({e})") from None
        if not (hasattr(self.model, "get_image_features") and hasattr(self.model, "get_text_features")):
            raise FlorenzError(f"embedder at {p}: {type(self.model).__name__} is not a contrastive image-text model")
        self.model.to(device).eval()
        self.image_proc, self.tok = _load_processor_parts(p, "embedder")
        self.batch_size, self.max_text_tokens, self.device = batch_size, max_text_tokens, device
        self.pad_max = "siglip" in type(self.model).__name__.lower()  # SigLIP was trained on max-length padding

    @torch.inference_mode()
    def embed_images(self, images: list) -> torch.Tensor:
        outs = []
        for i in range(0, len(images), self.batch_size):
            px = self.image_proc(images=images[i:i + self.batch_size], return_tensors="pt")["pixel_values"]
            outs.append(_features(self.model.get_image_features(pixel_values=px.to(self.device))).float().cpu())
        return torch.nn.functional.normalize(torch.cat(outs), dim=-1)

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        outs = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tok(texts[i:i + self.batch_size], return_tensors="pt", truncation=True,
                           max_length=self.max_text_tokens, padding="max_length" if self.pad_max else True)
            enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            outs.append(_features(self.model.get_text_features(**enc)).float().cpu())
        return torch.nn.functional.normalize(torch.cat(outs), dim=-1)


class OpenClipEmbedder:
    """open_clip model (optional dependency): spec "open_clip:ARCH:WEIGHTS_PATH"."""

    def __init__(self, arch: str, weights: str, batch_size: int = 64, device: str = "cpu") -> None:
        try:
            import open_clip
        except ImportError:
            raise FlorenzError("embedder 'open_clip:...' needs the open_clip package (pip install open_clip_torch); "
                               "or pass a transformers CLIP/SigLIP directory") from None
        if not Path(weights).is_file():
            raise FlorenzError(f"open_clip weights not found: {weights}")
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(arch, pretrained=weights, device=device)
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.model.eval()
        self.batch_size, self.device = batch_size, device

    @torch.inference_mode()
    def embed_images(self, images: list) -> torch.Tensor:
        outs = [self.model.encode_image(torch.stack([self.preprocess(im) for im in images[i:i + self.batch_size]])
                                        .to(self.device)).float().cpu()
                for i in range(0, len(images), self.batch_size)]
        return torch.nn.functional.normalize(torch.cat(outs), dim=-1)

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        outs = [self.model.encode_text(self.tokenizer(texts[i:i + self.batch_size]).to(self.device)).float().cpu()
                for i in range(0, len(texts), self.batch_size)]
        return torch.nn.functional.normalize(torch.cat(outs), dim=-1)


def load_embedder(spec: str, batch_size: int = 64, device: str = "cpu") -> Embedder:
    """A transformers CLIP/SigLIP directory, or "open_clip:ARCH:WEIGHTS_PATH"."""
    if spec.startswith("open_clip:"):
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise FlorenzError(f"embedder spec {spec!r}: expected open_clip:ARCH:WEIGHTS_PATH")
        return OpenClipEmbedder(parts[1], parts[2], batch_size=batch_size, device=device)
    return HFEmbedder(spec, batch_size=batch_size, device=device)
