"""Small, crash-safe file helpers shared by every stage (atomic writes, JSONL append, directory locks)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from florenz.errors import FlorenzError

LOCK_FILE = ".lock"
_HELD: dict[Path, list] = {}  # lock path -> [open file, depth]: re-entrant within one process


def check_writable_file(path: str | Path, what: str = "--out") -> Path:
    """Fail before any work when `path` cannot become a file: a directory, or a parent that is a file."""
    path = Path(path)
    if path.is_dir():
        raise FlorenzError(f"{what} {path} is a directory; name a file")
    check_dir_path(path.parent, what)
    return path


def check_dir_path(path: str | Path, what: str = "--out") -> Path:
    """Fail before any work when `path` cannot be (or become) a directory: it, or a parent, is a file."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise FlorenzError(f"{what} {path}: {p} is a file, not a directory")
            break
    return path


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """A file object on a temporary file beside `path`, renamed onto it only when the block succeeds:
    a crash or an error never leaves a half-written file nor empties an existing one. The file gets
    the permissions a plain `open` would (0666 minus the umask), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~current_umask())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write via a temporary file + rename so a crash never leaves a half-written file."""
    with atomic_writer(path, "wb") as f:
        f.write(data)


@contextlib.contextmanager
def dir_lock(directory: str | Path, wait: bool = False, what: str = "directory") -> Iterator[None]:
    """An exclusive lock on `directory` (a `.lock` file holding the owner's pid) for this process.

    `wait=False`: raise `LockedError` naming the owner if another process holds it. Re-entrant: the
    sweep holds a run's lock while the training it calls takes it again."""
    path = (Path(directory) / LOCK_FILE).resolve()
    if path in _HELD:
        _HELD[path][1] += 1
        try:
            yield
        finally:
            _HELD[path][1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # noqa: SIM115 - held for the lock's lifetime
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _lock_owner(path)
            if not wait:
                raise LockedError(f"{what} {path.parent} is in use by another process{owner}") from None
            from florenz.clitools import console

            console.print(f"waiting for the other process{owner} using {what} {path.parent} ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        _HELD[path] = [f, 1]
        try:
            yield
        finally:
            del _HELD[path]
            fcntl.flock(f, fcntl.LOCK_UN)
    finally:
        f.close()


class LockedError(FlorenzError):
    """Another process holds the lock of a run or sweep directory."""


def _lock_owner(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid else ""


def current_umask() -> int:
    """The process umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
