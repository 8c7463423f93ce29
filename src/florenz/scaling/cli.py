"""CLI of this stage (placeholder until the stage lands)."""

from __future__ import annotations

from florenz.errors import FlorenzError


def fit() -> None:
    """Fit scaling laws to a runs directory or a CSV table."""
    raise FlorenzError("fit: not implemented yet")

