"""The on-disk data set format shared by the micro world and the real data pipeline.

A data set directory holds WebDataset tar shards, ``{split}-{index:06d}.tar``, with one record per
image: ``{key}.png|jpg`` (the image bytes) and ``{key}.json`` (its annotations), plus ``stats.json``.

Annotations are ``{"id": str, "samples": [Sample...], ...}`` where each sample is
``{"task": "caption"|"translation", "lang": "fr", "style": "short", "src": "...", "tgt": "..."}``
(``src`` empty for captions). Extra keys (e.g. the micro world's ``scene``) are carried along.
``stats.json`` is ``{"counts": {"caption/en": n, ...}, "splits": {"train": {...counts}, ...}, ...}``:
the target class mix's input and the source of which languages are "unseen" for captioning.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from collections.abc import Callable, Iterator
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
    def from_dict(cls, d: object, where: str = "sample") -> Sample:
        """A sample from its JSON object; a missing or mistyped field is an error naming `where`."""
        if not isinstance(d, dict):
            raise FlorenzError(f"{where}: a sample must be an object, got {type(d).__name__}")
        if d.get("task") not in TASKS:
            raise FlorenzError(f"{where}: unknown task {d.get('task')!r} (known: {', '.join(TASKS)})")
        for key in ("lang", "tgt"):
            if not isinstance(d.get(key), str):
                raise FlorenzError(f"{where}: {key!r} must be a string, got {d.get(key)!r}")
        for key in ("src", "style"):
            if key in d and not isinstance(d[key], str):
                raise FlorenzError(f"{where}: {key!r} must be a string, got {d[key]!r}")
        return cls(task=d["task"], lang=d["lang"], tgt=d["tgt"], src=d.get("src", ""), style=d.get("style", "short"))


@dataclass
class Record:
    key: str
    image: bytes  # encoded PNG/JPEG
    image_ext: str
    meta: dict = field(default_factory=dict)
    shard: str = ""  # the shard file it was read from (for messages)

    @property
    def where(self) -> str:
        return f"record {self.key!r} in {self.shard}" if self.shard else f"record {self.key!r}"

    @property
    def raw_samples(self) -> list:
        samples = self.meta.get("samples", [])
        if not isinstance(samples, list):
            raise FlorenzError(f"{self.where}: 'samples' must be a list, got {type(samples).__name__}")
        return samples

    @property
    def samples(self) -> list[Sample]:
        return [Sample.from_dict(s, f"{self.where}, sample {i}") for i, s in enumerate(self.raw_samples)]


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


OnBad = Callable[[FlorenzError, str], None]  # (error naming shard and record, reason) -> None


def read_records(data_dir: str | Path, split: str, on_bad: OnBad | None = None) -> Iterator[Record]:
    """Yield the records of one split in a fixed order (shard name, then position in the tar).

    A record that cannot be read (invalid JSON, no annotations) or a truncated/corrupt shard raises a
    FlorenzError naming shard and record, or, with `on_bad`, is reported there and skipped (training)."""
    paths = shard_paths(data_dir, split)
    if not paths:
        raise FlorenzError(f"no '{split}-*.tar' shards in {data_dir}")
    for p in paths:
        yield from _read_tar(p, on_bad or _raise)


def read_shard(path: Path, on_bad: OnBad | None = None) -> Iterator[Record]:
    """The records of one shard in tar order (the stream reads shards one at a time, data/stream.py)."""
    yield from _read_tar(Path(path), on_bad or _raise)


def _raise(error: FlorenzError, reason: str) -> None:
    raise error


def _read_tar(path: Path, on_bad: OnBad) -> Iterator[Record]:
    group: dict[str, bytes] = {}
    key = None
    try:
        for name, data in _tar_files(path):
            k, _, ext = name.partition(".")
            if key is not None and k != key:
                yield from _to_record(key, group, path, on_bad)
                group = {}
            key = k
            group[ext] = data
    except tarfile.TarError as e:
        after = f" after record {key!r}" if key else ""
        on_bad(FlorenzError(f"corrupt shard {path}{after}: {e}"), "corrupt_shard")
        return
    if key is not None:
        yield from _to_record(key, group, path, on_bad)
    if not _has_end_marker(path):
        on_bad(FlorenzError(f"shard {path} is truncated (no end-of-archive marker after record {key!r}): "
                            "the records after it are missing"), "truncated_shard")


_BLOCK = 512


def _tar_files(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of the regular files of a tar, in order: the ustar/GNU headers the shard writer emits parsed
    directly (Python's `tarfile` header objects were a quarter of a streaming worker's time); anything else (pax
    or GNU long-name headers, sparse files) goes through `tarfile`. Errors follow `tarfile`: a bad first header
    or data cut short raise `tarfile.ReadError`; a bad or cut header later ends the archive (the end-of-archive
    check then reports it)."""
    with path.open("rb") as f:
        offset = 0
        while True:
            head = f.read(_BLOCK)
            if len(head) < _BLOCK or head == bytes(_BLOCK) or not _checksum_ok(head):
                if offset == 0 and head != bytes(_BLOCK):
                    raise tarfile.ReadError("empty file" if not head else "invalid or truncated first header")
                return
            kind = head[156:157]
            if kind not in (b"0", b"\0", b"5"):
                yield from _tar_files_slow(path, offset)
                return
            try:
                size = int(head[124:136].rstrip(b"\0 ") or b"0", 8)
            except ValueError:  # base-256 sizes (> 8 GiB) and the like
                yield from _tar_files_slow(path, offset)
                return
            data = f.read(size)
            if len(data) < size:
                raise tarfile.ReadError("unexpected end of data")
            f.seek(-size % _BLOCK, 1)
            prefix, name = head[345:500].rstrip(b"\0"), head[:100].rstrip(b"\0")
            offset += _BLOCK + size + (-size % _BLOCK)
            if kind != b"5":
                full = (prefix + b"/" + name if prefix and head[257:263] == b"ustar\0" else name)
                yield full.decode("utf-8", "surrogateescape"), data


def _checksum_ok(head: bytes) -> bool:
    try:
        want = int(head[148:156].rstrip(b"\0 ") or b"-1", 8)
    except ValueError:
        return False
    return want == sum(head[:148]) + 8 * 32 + sum(head[156:])


def _tar_files_slow(path: Path, offset: int) -> Iterator[tuple[str, bytes]]:
    """`tarfile` from the member at `offset` on (pax / GNU extension headers)."""
    with path.open("rb") as f:
        f.seek(offset)
        with tarfile.open(fileobj=f, mode="r:") as tar:
            for member in tar:
                if member.isfile():
                    g = tar.extractfile(member)
                    yield member.name, g.read() if g else b""


def _has_end_marker(path: Path) -> bool:
    """A complete tar ends with two zero blocks; one cut at a member boundary reads fine but lacks them."""
    size = path.stat().st_size
    if size < 1024:
        return False
    with path.open("rb") as f:
        f.seek(size - 1024)
        return f.read(1024) == bytes(1024)


def _to_record(key: str, group: dict[str, bytes], path: Path, on_bad: OnBad) -> Iterator[Record]:
    where = f"record {key!r} in {path}"
    if "json" not in group:
        on_bad(FlorenzError(f"{where} has no .json annotations"), "no_annotations")
        return
    try:
        meta = json.loads(group["json"])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        on_bad(FlorenzError(f"{where}: invalid JSON annotations ({e})"), "invalid_json")
        return
    if not isinstance(meta, dict):
        on_bad(FlorenzError(f"{where}: annotations must be a JSON object"), "invalid_json")
        return
    ext = next((e for e in ("png", "jpg", "jpeg", "webp") if e in group), "")
    yield Record(key=key, image=group.get(ext, b""), image_ext=ext, meta=meta, shard=str(path))


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
        img = Image.open(io.BytesIO(record.image))
        img.load()
        return img if img.mode == "RGB" else img.convert("RGB")  # convert() of an RGB image is a copy
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise FlorenzError(f"{record.where}: unreadable image ({e})") from None
