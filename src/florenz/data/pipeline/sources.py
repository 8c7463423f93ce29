"""Pipeline inputs: images (a folder, or WebDataset shards with alt-text) and bitext (TSV or JSONL).

Both are streamed in a fixed order so that chunk i is the same images on every run (resume needs it).
Bad bitext rows (empty or over-long sides) are skipped here and counted by the caller.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from florenz.errors import FlorenzError

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")


@dataclass
class ImageItem:
    key: str
    data: bytes
    ext: str
    alt_text: str = ""


def _clean_key(key: str) -> str:
    """Shard keys may not contain dots (the first dot starts the extension)."""
    return key.replace(".", "_").replace("/", "_")


def _norm_ext(ext: str) -> str:
    return "jpg" if ext.lower() == "jpeg" else ext.lower()


def image_source_paths(source: str | Path) -> tuple[str, list[Path]]:
    """("folder", image files) or ("wds", tar shards), sorted; errors name the input."""
    p = Path(source).expanduser()
    if p.is_file() and p.suffix == ".tar":
        return "wds", [p]
    if not p.is_dir():
        raise FlorenzError(f"image source not found: {source} (a folder of images or of WebDataset .tar shards)")
    tars = sorted(p.glob("*.tar"))
    if tars:
        return "wds", tars
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower().lstrip(".") in IMAGE_EXTS)
    if not files:
        raise FlorenzError(f"image source {source}: no images ({', '.join(IMAGE_EXTS)}) and no .tar shards")
    return "folder", files


def iter_images(source: str | Path) -> Iterator[ImageItem]:
    """Images in a fixed order; a folder's optional `NAME.txt` beside an image is its alt-text."""
    kind, paths = image_source_paths(source)
    if kind == "folder":
        for f in paths:
            alt = f.with_suffix(".txt")
            yield ImageItem(_clean_key(f.stem), f.read_bytes(), _norm_ext(f.suffix.lstrip(".")),
                            alt.read_text(encoding="utf-8", errors="replace").strip() if alt.is_file() else "")
        return
    for tar in paths:
        yield from _iter_tar(tar)


def _iter_tar(path: Path) -> Iterator[ImageItem]:
    group: dict[str, bytes] = {}
    key: str | None = None
    try:
        with tarfile.open(path) as tf:
            for m in tf:
                if not m.isfile():
                    continue
                base = m.name.rsplit("/", 1)[-1]
                k, _, ext = base.partition(".")
                k = m.name[: len(m.name) - len(base)] + k
                if key is not None and k != key:
                    item = _group_item(key, group)
                    if item:
                        yield item
                    group = {}
                key = k
                f = tf.extractfile(m)
                group[ext.lower()] = f.read() if f else b""
    except tarfile.TarError as e:
        raise FlorenzError(f"corrupt WebDataset shard {path}: {e}") from None
    if key is not None:
        item = _group_item(key, group)
        if item:
            yield item


def _group_item(key: str, group: dict[str, bytes]) -> ImageItem | None:
    """A sample without an image still comes through (empty bytes) so the build counts it as bad."""
    ext = next((e for e in IMAGE_EXTS if e in group), None)
    if ext is None:
        return ImageItem(_clean_key(key), b"", "", group.get("txt", b"").decode("utf-8", errors="replace").strip())
    alt = group.get("txt", b"").decode("utf-8", errors="replace").strip()
    if not alt and "json" in group:
        try:
            meta = json.loads(group["json"])
            alt = str(meta.get("caption", "")) if isinstance(meta, dict) else ""
        except json.JSONDecodeError:
            alt = ""
    return ImageItem(_clean_key(key), group[ext], _norm_ext(ext), alt)


def parse_bitext_specs(specs: list[str]) -> dict[str, Path]:
    """`LANG=PATH` pairs (one per target language, English is the source side)."""
    from florenz.languages import get_language

    out: dict[str, Path] = {}
    for spec in specs:
        lang, sep, path = spec.partition("=")
        if not sep or not lang or not path:
            raise FlorenzError(f"bitext spec {spec!r}: expected LANG=PATH, e.g. fr=ccmatrix.en-fr.tsv")
        get_language(lang)
        if lang in out:
            raise FlorenzError(f"bitext language {lang!r} given twice")
        if not Path(path).expanduser().is_file():
            raise FlorenzError(f"bitext file for {lang!r} not found: {path}")
        out[lang] = Path(path).expanduser()
    return out


def iter_bitext(path: Path, lang: str) -> Iterator[tuple[int, str, str]]:
    """(row, english, target) per line. TSV: `en<TAB>tgt`; JSONL: {"en": ..., "<lang>"|"tgt": ...}."""
    jsonl = path.suffix in (".jsonl", ".json")
    with path.open(encoding="utf-8", errors="replace") as f:
        for row, line in enumerate(f):
            line = line.rstrip("\n")
            if not line.strip():
                yield row, "", ""
                continue
            if jsonl:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise FlorenzError(f"{path}:{row + 1}: invalid JSON") from None
                yield row, str(obj.get("en", "")), str(obj.get(lang, obj.get("tgt", "")))
            else:
                en, _, tgt = line.partition("\t")
                yield row, en, tgt.split("\t", 1)[0]
