"""A disk cache for the training tables (decoded images, token id tables), one directory per key.

Reading a 20k-image micro world and tokenising its ~180k samples costs ~30 s; a sweep trains a dozen
runs on the same data, so the arrays are written once as .npy files and memory-mapped afterwards
(< 1 s). The key covers the data (shard names, sizes, mtimes), the tokenizer and the table settings,
so a changed input never reads a stale table. Written via temp dir + rename (parallel workers race
safely: the loser drops its copy).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

FORMAT = 3  # 2: tables carry the skip report of their split; 3: record places and row classes (one data path)


def cache_root(data_cache_dir: str = "") -> Path:
    if data_cache_dir:
        return Path(data_cache_dir) / "tables"
    root = os.environ.get("FLORENZ_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "florenz") / "tables"


def data_fingerprint(data_dir: str | Path, patterns: tuple[str, ...] = ("*.tar", "stats.json", "lm/*.txt")) -> list:
    d = Path(data_dir).resolve()
    files = sorted(p for pat in patterns for p in d.glob(pat))
    return [str(d)] + [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]


def tokenizer_fingerprint(tok) -> str:
    backend = getattr(tok, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(sorted(tok.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_arrays(root: Path, name: str, key: object, build: Callable[[], dict[str, np.ndarray]]
                  ) -> dict[str, np.ndarray]:
    """The arrays for `key` (memory-mapped, read-only) from `root/name-HASH/`, built and stored on a miss."""
    digest = hashlib.sha256(json.dumps([FORMAT, key], default=str).encode()).hexdigest()[:16]
    final = root / f"{name}-{digest}"
    if not (final / "done").is_file():
        arrays = build()
        tmp = root / f".{final.name}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            for k, v in arrays.items():
                np.save(tmp / f"{k}.npy", np.ascontiguousarray(v))
            (tmp / "done").write_text(json.dumps({"key": key}, default=str))
            os.replace(tmp, final)
        except OSError:  # another worker finished first, or the disk is full: train from memory
            shutil.rmtree(tmp, ignore_errors=True)
        return arrays
    return {p.stem: np.load(p, mmap_mode="r") for p in sorted(final.glob("*.npy"))}
