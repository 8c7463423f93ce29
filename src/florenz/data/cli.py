"""CLI of this stage (placeholder until the stage lands)."""

from __future__ import annotations

import typer

from florenz.errors import FlorenzError

app = typer.Typer(help="Build real training data: describe, translate, align, shard.", no_args_is_help=True)


@app.command("build")
def build() -> None:
    """Run the describe/translate/align pipeline; shards + stats.json go to --out."""
    raise FlorenzError("data build: not implemented yet")

