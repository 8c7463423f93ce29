"""The on-disk data set format shared by the micro world and the real data pipeline.

A data set directory holds WebDataset tar shards, ``{split}-{index:06d}.tar``, with one record per
image: ``{key}.png|jpg`` (the image bytes) and ``{key}.json`` (its annotations), plus ``stats.json``.

Annotations are ``{"id": str, "samples": [Sample...], ...}`` where each sample is
``{"task": "caption"|"translation", "lang": "fr", "style": "short", "src": "...", "tgt": "..."}``
(``src`` empty for captions). Extra keys (e.g. the micro world's ``scene``) are carried along.
``stats.json`` is ``{"counts": {"caption/en": n, ...}, "splits": {"train": {...counts}, ...}, ...}``:
the balanced sampler's input and the source of which languages are "unseen" for captioning.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import webdataset as wds

from florenz.errors import FlorenzError
from florenz.io import read_json, write_json

TASKS = ("caption", "translation")
STATS_FILE = "stats.json"


@dataclass
class Sample:
    task: str
    lang: str
    tgt: str
    src: str = ""
    style: str = "short"

    @property
    def klass(self) -> str:
        return class_key(self.task, self.lang)

    def to_dict(self) -> dict:
        return {"task": self.task, "lang": self.lang, "style": self.style, "src": self.src, "tgt": self.tgt}

    @classmethod
    def from_dict(cls, d: dict) -> Sample:
        if d.get("task") not in TASKS:
            raise FlorenzError(f"sample has unknown task {d.get('task')!r} (known: {', '.join(TASKS)})")
        return cls(task=d["task"], lang=d["lang"], tgt=d["tgt"], src=d.get("src", ""), style=d.get("style", "short"))


@dataclass
class Record:
    key: str
    image: bytes  # encoded PNG/JPEG
    image_ext: str
    meta: dict = field(default_factory=dict)

    @property
    def samples(self) -> list[Sample]:
        return [Sample.from_dict(s) for s in self.meta.get("samples", [])]


def class_key(task: str, lang: str) -> str:
    return f"{task}/{lang}"


def split_class_key(key: str) -> tuple[str, str]:
    task, _, lang = key.partition("/")
    if task not in TASKS or not lang:
        raise FlorenzError(f"bad task/language class {key!r}; expected e.g. 'caption/en'")
    return task, lang


class ShardWriter:
    """Write records of one split into numbered shards; counts per class for stats.json."""

    def __init__(self, out_dir: str | Path, split: str, shard_size: int = 2000, start_index: int = 0) -> None:
        if shard_size <= 0:
            raise FlorenzError(f"shard_size must be positive, got {shard_size}")
        self.out_dir, self.split, self.shard_size = Path(out_dir), split, shard_size
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.counts: Counter[str] = Counter()
        self.records = 0
        self._index = start_index
        self._in_shard = 0
        self._writer: wds.TarWriter | None = None
        self.shards: list[str] = []

    def write(self, record: Record) -> None:
        if self._writer is None or self._in_shard >= self.shard_size:
            self._roll()
        assert self._writer is not None
        self._writer.write({"__key__": record.key, record.image_ext: record.image,
                            "json": json.dumps(record.meta, ensure_ascii=False).encode()})
        self._in_shard += 1
        self.records += 1
        for s in record.meta.get("samples", []):
            self.counts[class_key(s["task"], s["lang"])] += 1

    def _roll(self) -> None:
        self.close()
        name = f"{self.split}-{self._index:06d}.tar"
        self._writer = wds.TarWriter(str(self.out_dir / (name + ".partial")))
        self._current = name
        self._index += 1
        self._in_shard = 0

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            (self.out_dir / (self._current + ".partial")).replace(self.out_dir / self._current)
            self.shards.append(self._current)
            self._writer = None

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shard_paths(data_dir: str | Path, split: str) -> list[Path]:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FlorenzError(f"data directory not found: {data_dir}")
    return sorted(data_dir.glob(f"{split}-*.tar"))


def read_records(data_dir: str | Path, split: str) -> Iterator[Record]:
    """Yield the records of one split in a fixed order (shard name, then position in the tar)."""
    paths = shard_paths(data_dir, split)
    if not paths:
        raise FlorenzError(f"no '{split}-*.tar' shards in {data_dir}")
    for p in paths:
        yield from _read_tar(p)


def _read_tar(path: Path) -> Iterator[Record]:
    group: dict[str, bytes] = {}
    key = None
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                k, _, ext = member.name.partition(".")
                if key is not None and k != key:
                    yield _to_record(key, group, path)
                    group = {}
                key = k
                f = tar.extractfile(member)
                group[ext] = f.read() if f else b""
    except tarfile.TarError as e:
        raise FlorenzError(f"corrupt shard {path}: {e}") from None
    if key is not None:
        yield _to_record(key, group, path)


def _to_record(key: str, group: dict[str, bytes], path: Path) -> Record:
    if "json" not in group:
        raise FlorenzError(f"record {key!r} in {path} has no .json annotations")
    ext = next((e for e in ("png", "jpg", "jpeg", "webp") if e in group), "")
    return Record(key=key, image=group.get(ext, b""), image_ext=ext, meta=json.loads(group["json"]))


def write_stats(data_dir: str | Path, split_counts: dict[str, Counter | dict], **extra: object) -> dict:
    """stats.json: `counts` are the training split's per-class sample counts."""
    splits = {s: dict(sorted(c.items())) for s, c in split_counts.items()}
    stats = {"counts": splits.get("train", {}), "splits": splits, **extra}
    write_json(Path(data_dir) / STATS_FILE, stats)
    return stats


def read_stats(data_dir: str | Path) -> dict:
    path = Path(data_dir) / STATS_FILE
    stats = read_json(path)
    if not isinstance(stats, dict) or not isinstance(stats.get("counts"), dict):
        raise FlorenzError(f"{path}: expected an object with a 'counts' mapping")
    for k in stats["counts"]:
        split_class_key(k)
    return stats


def unseen_caption_languages(stats: dict) -> tuple[list[str], list[str]]:
    """(caption languages, translation-only languages) from the training coverage, not a fixed list."""
    counts = stats["counts"]
    cap = sorted({split_class_key(k)[1] for k, n in counts.items() if k.startswith("caption/") and n > 0})
    tr = sorted({split_class_key(k)[1] for k, n in counts.items() if k.startswith("translation/") and n > 0})
    return cap, [lang for lang in tr if lang not in cap]


def decode_image(record: Record):
    """The record's image as an RGB PIL image (errors name the record)."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(record.image)).convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise FlorenzError(f"record {record.key!r}: unreadable image ({e})") from None
