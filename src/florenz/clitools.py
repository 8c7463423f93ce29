"""Conventions every florenz command follows: --out, --set, --json, one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

# Progress and human-readable text go to stderr so that stdout stays clean for --json.
console = Console(stderr=True, soft_wrap=True)

SET_HELP = "Override a config value, e.g. --set train.lr=3e-4 (repeatable)."
JSON_HELP = "Print machine-readable JSON on stdout."


def set_option() -> Any:
    return typer.Option([], "--set", "-s", help=SET_HELP, metavar="SECTION.KEY=VALUE")


def json_option() -> Any:
    return typer.Option(False, "--json", help=JSON_HELP)


def out_option(help_text: str, default: Path | None = None) -> Any:
    return typer.Option(default, "--out", "-o", help=help_text)


def emit(obj: Any, as_json: bool, text: str | None = None) -> None:
    """Print `obj` as JSON (stdout) under --json, else `text` (or a plain rendering of obj)."""
    if as_json:
        sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
    elif text is not None:
        typer.echo(text)
    else:
        typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def progress_enabled() -> bool:
    """Inner progress bars (training, evaluation) are off when an outer display owns the terminal,
    e.g. inside `florenz demo`/`sweep` or in worker processes (FLORENZ_PROGRESS=0)."""
    import os

    return os.environ.get("FLORENZ_PROGRESS", "1") != "0"


def make_progress(transient: bool = True):
    """A rich Progress with bar, counts, rate and ETA; a silent stand-in when progress is disabled."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=not progress_enabled(),
    )
