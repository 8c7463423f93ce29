"""CLI of this stage (placeholder until the stage lands)."""

from __future__ import annotations

from florenz.errors import FlorenzError


def models() -> None:
    """List the model presets with their parameter counts P and Pt (counted on the meta device)."""
    raise FlorenzError("models: not implemented yet")

