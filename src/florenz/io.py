"""Small, crash-safe file helpers shared by every stage (atomic JSON, JSONL append)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from florenz.errors import FlorenzError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write via a temporary file + rename so a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False, default=_jsonable) + "\n").encode())


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FlorenzError(f"file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FlorenzError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Yield one object per non-empty line; a malformed line is an error naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise FlorenzError(f"file not found: {path}")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise FlorenzError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    payload = "".join(json.dumps(r, ensure_ascii=False, default=_jsonable) + "\n" for r in rows)
    atomic_write_bytes(path, payload.encode())


def append_jsonl(path: str | Path, row: dict) -> None:
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
