"""A dataset directory read into memory for training: one row per sample, images decoded once.

Training draws samples (not records): a record's image carries several samples (captions in some
languages, translations in others). Rows index into an image store that is either one dense uint8
array (small, equally sized images such as the micro world's: decoded once, then a batch is a
single fancy-index) or the encoded bytes decoded on demand (real data).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from florenz.data.shards import Record, class_key, decode_image, read_records
from florenz.errors import FlorenzError

DENSE_MAX_BYTES = 4 << 30  # decode eagerly if the whole split fits in this many bytes as uint8


class ImageStore:
    """Images by index: `dense` [N, H, W, 3] uint8, or encoded bytes decoded per access."""

    def __init__(self, records: list[Record], dense: bool | None = None) -> None:
        self.keys = [r.key for r in records]
        self._encoded: list[Record] | None = None
        self.dense: np.ndarray | None = None
        if dense is None:
            dense = _fits_dense(records)
        if dense:
            arrays = [np.asarray(decode_image(r), dtype=np.uint8) for r in records]
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
    skipped: int = 0  # samples dropped (empty target), counted, never silent


def load_split(data_dir: str | Path, split: str = "train", dense: bool | None = None) -> TrainSet:
    """Read every record of `split`; errors name the directory, record or sample."""
    data_dir = Path(data_dir)
    records = list(read_records(data_dir, split))
    image_rows, task, lang, style, src, tgt = [], [], [], [], [], []
    skipped = 0
    for i, rec in enumerate(records):
        if not rec.image:
            raise FlorenzError(f"record {rec.key!r} in {data_dir} ({split}) has no image")
        for s in rec.samples:
            if not s.tgt.strip():
                skipped += 1
                continue
            image_rows.append(i)
            task.append(s.task)
            lang.append(s.lang)
            style.append(s.style)
            src.append(s.src)
            tgt.append(s.tgt)
    if not tgt:
        raise FlorenzError(f"no usable samples in the '{split}' split of {data_dir}")
    classes: dict[str, list[int]] = {}
    for row, (t, lg) in enumerate(zip(task, lang, strict=True)):
        classes.setdefault(class_key(t, lg), []).append(row)
    table = SampleTable(image=np.asarray(image_rows, dtype=np.int64), task=task, lang=lang, style=style, src=src,
                        tgt=tgt, class_items={k: np.asarray(v, dtype=np.int64) for k, v in sorted(classes.items())})
    return TrainSet(path=data_dir, split=split, images=ImageStore(records, dense=dense), samples=table,
                    skipped=skipped)


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
        with Image.open(io.BytesIO(r.image)) as im:
            sizes.add(im.size)
    if len(sizes) != 1:
        return False
    w, h = sizes.pop()
    return len(records) * w * h * 3 <= DENSE_MAX_BYTES
