"""`florenz train`: one training run into a run directory."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from florenz.clitools import emit, json_option, out_option, set_option


def train(
    config: str = typer.Argument("micro", help="Config name under configs/ or a TOML path."),
    out: Path = out_option("Run directory (checkpoints/, log.jsonl, tb/, result.json).", Path("runs/train")),
    sets: list[str] = set_option(),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out."),
    as_json: bool = json_option(),
) -> None:
    """Train a model on a sample budget (train.samples); checkpoints, logs and result.json go to --out.

    Multi-GPU / multi-process: launch with torchrun, e.g.
    `torchrun --nproc-per-node 8 -m florenz.cli train paper_pretrain --out runs/x`.
    """
    from florenz.config import load_config
    from florenz.train.loop import train_run

    cfg = load_config(config, sets)
    result = train_run(cfg, out, resume=resume)
    text = (f"trained {result['preset']}: S={result['samples']} samples (+{result['decoder_lm_samples']} decoder LM, "
            f"T={result['decoder_languages']}) in {result['wall_time_s']:.1f}s, final loss {result['final_loss']:.4f}, "
            f"C={result['compute']:.3g} FLOPs -> {out}")
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one report
        emit(result, as_json, text=text)


def export(
    checkpoint: Path = typer.Argument(..., help="A checkpoint of a run: RUN/checkpoints/step-XXXXXXXX."),
    out: Path = out_option("Model directory to write (default: RUN/export-step-XXXXXXXX).", None),
    as_json: bool = json_option(),
) -> None:
    """Export a training checkpoint (one-file or sharded by a distributed run) as a model directory for
    `florenz eval`, `florenz caption` and `florenz.load`."""
    from florenz.io import check_dir_path
    from florenz.train.export import export_model

    target = check_dir_path(out or checkpoint.resolve().parents[1] / f"export-{checkpoint.resolve().name}")
    export_model(checkpoint, target)
    emit({"checkpoint": str(checkpoint), "model": str(target)}, as_json, text=f"exported {checkpoint} -> {target}")
