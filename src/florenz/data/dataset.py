"""A dataset directory read into memory for training: one row per sample, images decoded once.

Training draws samples (not records): a record's image carries several samples (captions in some
languages, translations in others). Rows index into an image store that is either one dense uint8
array (small, equally sized images such as the micro world's: decoded once, then a batch is a
single fancy-index) or the encoded bytes decoded on demand (real data).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from florenz.data.shards import STATS_FILE, Record, Sample, class_key, decode_image, read_shard, read_stats, shard_paths
from florenz.errors import FlorenzError

DENSE_MAX_BYTES = 4 << 30  # decode eagerly if the whole split fits in this many bytes as uint8


class ImageStore:
    """Images by index: `dense` [N, H, W, 3] uint8, or encoded bytes decoded per access."""

    def __init__(self, records: list[Record], dense: bool | None = None,
                 arrays: list[np.ndarray] | None = None) -> None:
        self.keys = [r.key for r in records]
        self._encoded: list[Record] | None = None
        self.dense: np.ndarray | None = None
        if dense is None:
            dense = _fits_dense(records)
        if dense:
            arrays = arrays if arrays is not None else [np.asarray(decode_image(r), dtype=np.uint8) for r in records]
            if len({a.shape for a in arrays}) == 1:
                self.dense = np.stack(arrays)
        if self.dense is None:  # mixed sizes (or too large): keep the encoded bytes
            self._encoded = records

    def __len__(self) -> int:
        return len(self.keys)

    def batch(self, idx: np.ndarray) -> np.ndarray | list:
        """A uint8 [B, H, W, 3] array (dense store) or a list of RGB PIL images."""
        if self.dense is not None:
            return self.dense[idx]
        assert self._encoded is not None
        return [decode_image(self._encoded[i]) for i in idx]


@dataclass
class SkipReport:
    """Unusable training data, counted by reason: samples skipped, records and shards that could not be read.

    `expected` is the split's sample count (stats.json's, or the samples read if more), `used` the samples
    kept; `unusable = expected - used` covers everything lost, including records missing against stats.json."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)  # reason -> the first message naming shard and record
    expected: int = 0
    used: int = 0

    def add(self, reason: str, message: str, n: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + n
        self.first.setdefault(reason, message)

    @property
    def unusable(self) -> int:
        return max(self.expected - self.used, 0)

    @property
    def share(self) -> float:
        return self.unusable / self.expected if self.expected else 0.0

    def summary(self) -> dict:
        return {"samples_expected": self.expected, "samples_used": self.used, "samples_unusable": self.unusable,
                "skipped": dict(sorted(self.counts.items()))}

    def describe(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "none"
        return (f"{self.unusable} of {self.expected} samples unusable ({100 * self.share:.2f} %; {reasons}); "
                f"first: {next(iter(self.first.values()), '-')}")

    def check(self, limit: float, where: str) -> None:
        """Stop when the unusable share passes `limit` (data.max_skipped_share); else warn if any were skipped."""
        if self.share > limit:
            raise FlorenzError(f"{where}: too much unusable training data, {self.describe()} "
                               f"(limit data.max_skipped_share={limit})")
        if self.unusable or self.counts:
            from florenz.clitools import console

            console.print(f"[yellow]warning:[/] {where}: skipped {self.describe()}")
            for reason, n in sorted(self.counts.items()):  # one line per reason, with its first case
                console.print(f"  {reason}: {n}, first: {self.first[reason]}")

    def to_json(self) -> str:
        return json.dumps({"counts": self.counts, "first": self.first, "expected": self.expected, "used": self.used})

    @classmethod
    def from_json(cls, text: str) -> SkipReport:
        return cls(**json.loads(text))


@dataclass
class SampleTable:
    """Column-wise samples of one split; `image` indexes the ImageStore."""

    image: np.ndarray
    task: list[str]
    lang: list[str]
    style: list[str]
    src: list[str]
    tgt: list[str]
    class_items: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tgt)


@dataclass
class TrainSet:
    path: Path
    split: str
    images: ImageStore
    samples: SampleTable
    skips: SkipReport = field(default_factory=SkipReport)  # unusable data, counted by reason, never silent
    # where each kept record (= image) sits: shard index (into the split's sorted shards) and position in the tar,
    # so the memory policy reads records in the stream's order (data/stream.py)
    record_shard: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    record_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_shards: int = 0


def load_split(data_dir: str | Path, split: str = "train", dense: bool | None = None) -> TrainSet:
    """Read every usable sample of `split`. Unusable data (unreadable record, shard or image; a sample with
    missing keys or empty text) is skipped and counted in `skips`; the caller decides when it is too much."""
    data_dir = Path(data_dir)
    skips = SkipReport()
    records, samples, places, n_shards = _usable_records(data_dir, split, skips)
    if dense is None:
        dense = _fits_dense(records)
    arrays: list[np.ndarray] | None = [] if dense else None
    kept: list[Record] = []
    kept_places: list[tuple[int, int]] = []
    image_rows, task, lang, style, src, tgt = [], [], [], [], [], []
    for rec, recs, place in zip(records, samples, places, strict=True):
        try:  # dense: decoded once here anyway; lazy: the header is parsed now, the pixels per batch
            image = np.asarray(decode_image(rec), dtype=np.uint8) if dense else _check_image(rec)
        except FlorenzError as e:
            skips.add("bad_image", str(e), len(recs))
            continue
        if arrays is not None:
            arrays.append(image)
        for s in recs:
            image_rows.append(len(kept))
            task.append(s.task)
            lang.append(s.lang)
            style.append(s.style)
            src.append(s.src)
            tgt.append(s.tgt)
        kept.append(rec)
        kept_places.append(place)
    skips.used = len(tgt)
    read = skips.used + sum(skips.counts.get(k, 0) for k in _SAMPLE_REASONS)
    skips.expected = max(_stats_total(data_dir, split), read)
    if skips.expected > read:  # stats.json counts samples that no shard delivered (a shard lost records)
        skips.add("missing_vs_stats", f"{data_dir}/{STATS_FILE} counts {skips.expected} '{split}' samples, the "
                  f"shards hold {read}", skips.expected - read)
    if not tgt:
        raise FlorenzError(f"no usable samples in the '{split}' split of {data_dir} ({skips.describe()})")
    classes: dict[str, list[int]] = {}
    for row, (t, lg) in enumerate(zip(task, lang, strict=True)):
        classes.setdefault(class_key(t, lg), []).append(row)
    table = SampleTable(image=np.asarray(image_rows, dtype=np.int64), task=task, lang=lang, style=style, src=src,
                        tgt=tgt, class_items={k: np.asarray(v, dtype=np.int64) for k, v in sorted(classes.items())})
    where = np.asarray(kept_places, dtype=np.int64).reshape(-1, 2)
    return TrainSet(path=data_dir, split=split, images=ImageStore(kept, dense=dense, arrays=arrays), samples=table,
                    skips=skips, record_shard=where[:, 0], record_pos=where[:, 1], n_shards=n_shards)


_SAMPLE_REASONS = ("bad_sample", "empty_target", "empty_source", "no_image", "bad_image")


def _usable_records(data_dir: Path, split: str, skips: SkipReport
                    ) -> tuple[list[Record], list[list[Sample]], list[tuple[int, int]], int]:
    """Records with an image, their usable samples and (shard index, position in the shard) - the order and
    positions `shards.read_records` and the stream read them in - plus the number of shards; everything
    else counted in `skips`."""
    paths = shard_paths(data_dir, split)
    if not paths:
        raise FlorenzError(f"no '{split}-*.tar' shards in {data_dir}")
    records, samples, places = [], [], []
    for i, path in enumerate(paths):
        for j, rec in enumerate(read_shard(path, on_bad=lambda e, reason: skips.add(reason, str(e)))):
            usable = usable_samples(rec, skips)
            if usable:
                records.append(rec)
                samples.append(usable)
                places.append((i, j))
    return records, samples, places, len(paths)


def usable_samples(rec: Record, skips: SkipReport) -> list[Sample]:
    """The samples of one record that training can use (none without an image); the rest counted by reason.
    Shared by the in-memory tables and the stream (data/stream.py)."""
    try:
        raw = rec.raw_samples
    except FlorenzError as e:
        skips.add("invalid_json", str(e))
        return []
    usable = []
    for i, d in enumerate(raw):
        where = f"{rec.where}, sample {i}"
        try:
            s = Sample.from_dict(d, where)
        except FlorenzError as e:
            skips.add("bad_sample", str(e))
            continue
        if not s.tgt.strip():
            skips.add("empty_target", f"{where}: empty target text")
        elif s.task == "translation" and not s.src.strip():
            skips.add("empty_source", f"{where}: empty translation source")
        else:
            usable.append(s)
    if not rec.image:
        if usable:
            skips.add("no_image", f"{rec.where} has no image", len(usable))
        return []
    return usable


def _check_image(rec: Record) -> None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(rec.image)) as im:
            im.verify()
    except Exception as e:  # PIL raises many types for a corrupt file
        raise FlorenzError(f"{rec.where}: unreadable image ({e})") from None


def _stats_total(data_dir: Path, split: str) -> int:
    """The split's sample count according to stats.json (0 if it has none)."""
    if not (data_dir / STATS_FILE).is_file():
        return 0
    counts = read_stats(data_dir).get("splits", {}).get(split, {})
    return int(sum(v for v in counts.values() if isinstance(v, int)))


def load_lm_text(data_dir: str | Path, langs: list[str]) -> dict[str, list[str]]:
    """Decoder pre-training sentences `lm/{lang}.txt` (one per line) for each language."""
    out = {}
    for lang in langs:
        path = Path(data_dir) / "lm" / f"{lang}.txt"
        if not path.is_file():
            have = sorted(p.stem for p in (Path(data_dir) / "lm").glob("*.txt"))
            raise FlorenzError(f"no decoder LM text for language {lang!r}: {path} is missing "
                               f"(available: {', '.join(have) or 'none'})")
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        lines = [ln for ln in lines if ln]
        if not lines:
            raise FlorenzError(f"decoder LM text {path} is empty")
        out[lang] = lines
    return out


def _fits_dense(records: list[Record]) -> bool:
    """Dense if the first images share one size and the split fits the byte limit (checked on a few)."""
    if not records:
        return False
    from PIL import Image

    sizes = set()
    for r in records[:: max(1, len(records) // 16)]:
        try:
            with Image.open(io.BytesIO(r.image)) as im:
                sizes.add(im.size)
        except Exception:  # a corrupt image: skipped (and counted) when the split is read
            continue
    if len(sizes) != 1:
        return False
    w, h = sizes.pop()
    return len(records) * w * h * 3 <= DENSE_MAX_BYTES
