"""Crossmodal-3600: captions.jsonl (one object per image, 36 languages) + images/<image/key>.jpg.

The paper's "Unseen" XM3600 number is the mean over fr, es, ru and zh."""

from __future__ import annotations

from pathlib import Path

from florenz.data.benchmarks.common import BenchmarkItem, attach_images
from florenz.errors import FlorenzError
from florenz.io import read_jsonl

LANGS = (
    "ar", "bn", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fil", "fr",
    "he", "hi", "hr", "hu", "id", "it", "ja", "ko", "mi", "nl", "no", "pl",
    "pt", "quz", "ro", "ru", "sv", "sw", "te", "th", "tr", "uk", "vi", "zh",
)
PAPER_UNSEEN = ("fr", "es", "ru", "zh")


def load_xm3600(root: str | Path, lang: str, image_dir: str | Path | None = None,
                text_only: bool = False) -> list[BenchmarkItem]:
    """Caption items of one language (all its references per image), in file order."""
    root = Path(root)
    if lang not in LANGS:
        raise FlorenzError(f"XM3600 has no language {lang!r}; known: {' '.join(LANGS)}")
    path = root / "captions.jsonl" if root.is_dir() else root
    items, names = [], []
    for i, obj in enumerate(read_jsonl(path), 1):
        key = obj.get("image/key")
        if not key:
            raise FlorenzError(f"{path}:{i}: no 'image/key'")
        refs = (obj.get(lang) or {}).get("caption") or []
        if not refs:
            raise FlorenzError(f"{path}:{i}: image {key} has no {lang!r} captions")
        items.append(BenchmarkItem(id=key, task="caption", lang=lang, refs=list(refs)))
        names.append(f"{key}.jpg")
    if not items:
        raise FlorenzError(f"{path}: no images")
    folder = Path(image_dir) if image_dir else path.parent / "images"
    return attach_images(items, folder, names, text_only, "XM3600")
