"""CLI of this stage (placeholder until the stage lands)."""

from __future__ import annotations

import typer

from florenz.errors import FlorenzError

app = typer.Typer(help="Build and inspect the procedurally generated micro world (the default data).",
                  no_args_is_help=True)


@app.command("build")
def build() -> None:
    """Write micro-world shards + stats.json to --out."""
    raise FlorenzError("world build: not implemented yet")

