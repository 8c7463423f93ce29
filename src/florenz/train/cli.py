"""`florenz train`: one training run into a run directory."""

from __future__ import annotations

from pathlib import Path

import typer

from florenz.clitools import json_option, out_option, set_option
from florenz.errors import FlorenzError


def train(
    config: str = typer.Argument("micro", help="Config name under configs/ or a TOML path."),
    out: Path = out_option("Run directory (checkpoints/, log.jsonl, tb/, result.json).", Path("runs/train")),
    sets: list[str] = set_option(),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out."),
    as_json: bool = json_option(),
) -> None:
    """Train a model on a sample budget (train.samples); checkpoints, logs and result.json go to --out."""
    from florenz.config import load_config

    load_config(config, sets)
    raise FlorenzError("train: not implemented yet")
