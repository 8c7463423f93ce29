"""CLI of this stage (placeholder until the stage lands)."""

from __future__ import annotations

from florenz.errors import FlorenzError


def report() -> None:
    """Write report.md and report.html (plots, laws, the paper's claims checked) for a runs directory."""
    raise FlorenzError("report: not implemented yet")

