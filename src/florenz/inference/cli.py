"""CLI of this stage (placeholder until the stage lands)."""

from __future__ import annotations

from florenz.errors import FlorenzError


def caption() -> None:
    """Caption image files or folders with a trained checkpoint (JSONL)."""
    raise FlorenzError("caption: not implemented yet")


def translate() -> None:
    """Translate text (or stdin lines) with a trained checkpoint, optionally with an image."""
    raise FlorenzError("translate: not implemented yet")

