"""Run tiny optimisations with single-threaded OpenBLAS.

scipy's L-BFGS-B calls BLAS on 5-element problems; a multi-threaded OpenBLAS then spends most of its
time waking and spinning threads (measured 44x slower on a busy 2-core machine). threadpoolctl is not
a dependency, so the OpenBLAS libraries already loaded into the process are found in /proc/self/maps
and set to one thread via ctypes for the duration of the block; elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SUFFIXES = ("", "64_", "_64")


def _openblas_handles() -> list[tuple[ctypes.CDLL, str]]:
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        return []
    paths = sorted({m.group(0) for m in re.finditer(r"/\S*openblas\S*\.so\S*", maps.read_text())})
    out = []
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suf in _SUFFIXES:
                if hasattr(lib, f"{prefix}_get_num_threads{suf}") and hasattr(lib, f"{prefix}_set_num_threads{suf}"):
                    out.append((lib, f"{prefix}_%s_num_threads{suf}"))
                    break
            else:
                continue
            break
    return out


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """Set every loaded OpenBLAS to one thread inside the block, restoring the old counts after."""
    saved = []
    for lib, pattern in _openblas_handles():
        try:
            n = int(getattr(lib, pattern % "get")())
            getattr(lib, pattern % "set")(1)
            saved.append((lib, pattern, n))
        except (AttributeError, OSError):
            continue
    try:
        yield
    finally:
        for lib, pattern, n in saved:
            getattr(lib, pattern % "set")(n)
