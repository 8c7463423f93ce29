"""`florenz world build|show`: write the micro world to a directory, or look at one."""

from __future__ import annotations

from pathlib import Path

import typer

from florenz.clitools import console, emit, json_option, out_option, set_option

app = typer.Typer(help="Build and inspect the procedurally generated micro world (the default data).",
                  no_args_is_help=True)


@app.command("build")
def build(
    out: Path = out_option("Directory for shards, stats.json, tokenizer.json and lm/*.txt."),
    seed: int | None = typer.Option(None, "--seed", help="World seed (default: world.seed)."),
    samples: int | None = typer.Option(None, "--samples", help="Training scenes (default: world.train_scenes)."),
    config: str | None = typer.Option(None, "--config", "-c", help="Config TOML (name under configs/ or path)."),
    overrides: list[str] = set_option(),
    as_json: bool = json_option(),
) -> None:
    """Write micro-world shards + stats.json + tokenizer + decoder LM text to --out."""
    import time

    from florenz.config import load_config
    from florenz.errors import FlorenzError
    from florenz.io import check_dir_path
    from florenz.world.build import build_world

    if out is None:
        raise FlorenzError("world build: --out DIR is required")
    check_dir_path(out)
    cfg = load_config(config, overrides).world
    if seed is not None:
        cfg.seed = seed
    if samples is not None:
        cfg.train_scenes = samples
    start = time.time()
    path = build_world(cfg.validate(), out)
    from florenz.data.shards import read_stats

    stats = read_stats(path)
    result = {"out": str(path), "seconds": round(time.time() - start, 1), "counts": stats["counts"],
              "heldout": stats["splits"].get("heldout", {})}
    emit(result, as_json, text=f"world written to {path} in {result['seconds']} s: "
         + ", ".join(f"{k}={v}" for k, v in stats["counts"].items()))


@app.command("show")
def show(
    data_dir: Path = typer.Argument(..., help="A world (or any data set) directory."),
    out: Path | None = out_option("PNG file to write (default: DIR/show.png)."),
    split: str = typer.Option("heldout", "--split", help="Split to show (heldout has every language)."),
    n: int = typer.Option(6, "--n", help="Number of images."),
) -> None:
    """Write a PNG grid of sample images with their captions/translations in every language."""
    from florenz.world.show import show_grid

    path = show_grid(data_dir, out or data_dir / "show.png", split=split, n=n)
    console.print(f"wrote {path}")
