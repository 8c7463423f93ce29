"""What every benchmark loader returns, and the shared checks (text files, images on disk).

Loaders read the official formats from local paths only. Missing images are one error naming the
first missing file and the count, unless the caller asks for text-only evaluation (then `image` is None
and the evaluator feeds a blank image, saying so in its output).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

from florenz.errors import FlorenzError


@dataclass
class BenchmarkItem:
    """One evaluation item: a caption item (task 'caption', refs) or a translation item (src + refs)."""

    id: str
    task: str  # "caption" or "translation"
    lang: str  # target language
    refs: list[str]
    src: str = ""
    src_lang: str = ""
    image: Path | None = None  # None: text-only (a blank image is fed)
    extra: dict = field(default_factory=dict)


def read_lines(path: Path) -> list[str]:
    """Lines of a plain or gzipped text file (the Multi30K/CoMMuTE raw files), no trailing newline."""
    for p in (path, path.with_name(path.name + ".gz")):
        if p.is_file():
            opener = gzip.open if p.suffix == ".gz" else open
            with opener(p, "rt", encoding="utf-8") as f:
                return [line.rstrip("\n").rstrip("\r") for line in f]
    raise FlorenzError(f"benchmark file not found: {path} (or {path.name}.gz)")


def same_length(what: str, **columns: list) -> int:
    """All parallel files of a benchmark must have as many lines; the error names them."""
    sizes = {k: len(v) for k, v in columns.items()}
    if len(set(sizes.values())) > 1:
        raise FlorenzError(f"{what}: files have different numbers of lines: {sizes}")
    return next(iter(sizes.values()), 0)


def attach_images(items: list, image_dir: Path | None, names: list[str], text_only: bool, what: str) -> list:
    """Set `item.image = image_dir / name`; unless text_only, every file must exist."""
    if text_only:
        for it in items:
            it.image = None
        return items
    if image_dir is None or not Path(image_dir).is_dir():
        raise FlorenzError(
            f"{what}: all {len(names)} images missing, first: {names[0] if names else '-'} "
            f"(image folder {image_dir or 'not found'}; add the images, or evaluate text-only)"
        )
    paths = [Path(image_dir) / n for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FlorenzError(
            f"{what}: {len(missing)} of {len(paths)} images missing, first: {missing[0]} "
            "(add them, or evaluate text-only)"
        )
    for it, p in zip(items, paths, strict=True):
        it.image = p
    return items


def pick_dir(root: Path, candidates: list[str]) -> Path | None:
    """The first existing folder among the official layouts' candidates (None if none exists)."""
    for c in candidates:
        if (root / c).is_dir():
            return root / c
    return None
