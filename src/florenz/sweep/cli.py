"""CLI of this stage (placeholder until the stage lands)."""

from __future__ import annotations

from florenz.errors import FlorenzError


def sweep() -> None:
    """Run a grid of train + evaluate runs, one directory each under --out."""
    raise FlorenzError("sweep: not implemented yet")


def demo() -> None:
    """Run the whole micro-world study (sweep, evaluation, fits, report) on this CPU."""
    raise FlorenzError("demo: not implemented yet")

