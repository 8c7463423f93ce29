"""CoMMuTE (github.com/MatthieuFP/CoMMuTE layout): en-XX/{src.en, correct.XX, incorrect.XX, img.order},
images unpacked to images/<name>. Every ambiguous source appears twice, once per image/reading."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from florenz.data.benchmarks.common import attach_images, pick_dir, read_lines, same_length
from florenz.errors import FlorenzError

LANGS = ("de", "fr", "ru", "zh", "cs", "ar", "fr_dev")


@dataclass
class CommuteItem:
    id: str
    lang: str
    src: str
    correct: str
    incorrect: str
    image_name: str
    image: Path | None = None


def load_commute(root: str | Path, lang: str = "fr", image_dir: str | Path | None = None,
                 text_only: bool = False) -> list[CommuteItem]:
    root = Path(root)
    if lang not in LANGS:
        raise FlorenzError(f"CoMMuTE has no pair en-{lang}; known: {', '.join(LANGS)}")
    pair = root / f"en-{lang}"
    if not pair.is_dir():
        raise FlorenzError(f"CoMMuTE folder not found: {pair}")
    code = lang.split("_")[0]
    src = read_lines(pair / "src.en")
    good, bad = read_lines(pair / f"correct.{code}"), read_lines(pair / f"incorrect.{code}")
    names = read_lines(pair / "img.order")
    same_length(f"CoMMuTE en-{lang}", src=src, correct=good, incorrect=bad, images=names)
    items = [CommuteItem(f"en-{lang}:{i}", code, s, c, w, n)
             for i, (s, c, w, n) in enumerate(zip(src, good, bad, names, strict=True))]
    folder = Path(image_dir) if image_dir else pick_dir(root, ["images", f"en-{lang}/images", f"images/en-{lang}"])
    return attach_images(items, folder, names, text_only, f"CoMMuTE en-{lang}")
