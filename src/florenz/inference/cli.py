"""`florenz caption` and `florenz translate`: a trained checkpoint from the command line."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import typer

from florenz.clitools import console, make_progress
from florenz.errors import FlorenzError
from florenz.io import atomic_writer, check_writable_file

CHECKPOINT_HELP = "A florenz run directory or its model/ directory."


def check_generation_options(**values: int) -> None:
    """--beams, --max-new-tokens, --batch-size must be positive (before the model is loaded)."""
    for name, v in values.items():
        if v <= 0:
            raise FlorenzError(f"--{name.replace('_', '-')} must be a positive integer, got {v}")


def caption(
    paths: list[Path] = typer.Argument(..., help="Image files and/or folders (searched recursively)."),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help=CHECKPOINT_HELP),
    lang: str = typer.Option("en", "--lang", "-l", help="Caption language code."),
    style: str = typer.Option("short", "--style", help="short | detailed | paragraph"),
    no_prefix: bool = typer.Option(False, "--no-prefix", help="Let the model start freely (no forced prefix)."),
    beams: int = typer.Option(4, "--beams"),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens"),
    batch_size: int = typer.Option(16, "--batch-size"),
    device: str = typer.Option("", "--device", help="cpu | cuda (default: cuda if available)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="JSONL file to write (default: stdout)."),
) -> None:
    """Caption image files or folders; streams {"image", "lang", "text"} JSON lines to --out or stdout.

    Unreadable and non-image files are skipped with a warning and counted at the end."""
    from florenz.inference.api import load
    from florenz.inference.images import collect_image_files, open_image

    check_generation_options(beams=beams, max_new_tokens=max_new_tokens, batch_size=batch_size)
    if out is not None:
        check_writable_file(out)
    model = load(checkpoint, device=device or None, batch_size=batch_size)
    model._check_lang(lang)
    found = collect_image_files(paths)
    skipped = list(found.skipped)
    for f, why in found.skipped:
        console.print(f"[yellow]warning:[/] skipping {f}: {why}")
    written = 0
    # --out is written to a temporary file renamed at the end: an existing file survives any failure
    with atomic_writer(out) if out else contextlib.nullcontext(sys.stdout) as sink:
        with make_progress() as progress:
            task = progress.add_task("caption", total=len(found.files), info="")
            for lo in range(0, len(found.files), batch_size):
                batch, images = [], []
                for f in found.files[lo:lo + batch_size]:
                    try:
                        images.append(open_image(f))
                        batch.append(f)
                    except FlorenzError as e:
                        console.print(f"[yellow]warning:[/] skipping {f}: {e}")
                        skipped.append((f, str(e)))
                if batch:
                    texts = model.caption(images, lang=lang, style=style, prefix=not no_prefix, beams=beams,
                                          max_new_tokens=max_new_tokens)
                    for f, text in zip(batch, texts, strict=True):
                        sink.write(json.dumps({"image": str(f), "lang": lang, "text": text}, ensure_ascii=False) + "\n")
                        written += 1
                    sink.flush()
                progress.advance(task, len(found.files[lo:lo + batch_size]))
        if written == 0:
            raise FlorenzError(f"no readable images among {len(found.files)} files" + (f"; {out} left as it was"
                                                                                         if out else ""))
    console.print(f"captioned {written} images, skipped {len(skipped)}" + (f"; wrote {out}" if out else ""))


def translate(
    text: str = typer.Argument(..., help="English text to translate, or - to read one text per stdin line."),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help=CHECKPOINT_HELP),
    lang: str = typer.Option("de", "--lang", "-l", help="Target language code."),
    image: Path | None = typer.Option(None, "--image", help="An image as visual context (default: none)."),
    beams: int = typer.Option(4, "--beams"),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens"),
    device: str = typer.Option("", "--device", help="cpu | cuda (default: cuda if available)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of plain text."),
) -> None:
    """Translate a text (or stdin lines with -) into --lang, optionally with an image as context.

    One output line per input line, in order: an empty or blank input gives an empty output line
    (the model is not run on it), so outputs always line up with inputs."""
    from florenz.inference.api import load

    check_generation_options(beams=beams, max_new_tokens=max_new_tokens)
    texts = [ln.rstrip("\r\n") for ln in sys.stdin] if text == "-" else [text]
    if not texts:
        raise FlorenzError("nothing to translate: stdin was empty")
    model = load(checkpoint, device=device or None)
    todo = [i for i, t in enumerate(texts) if t.strip()]
    images = [image] * len(todo) if image else None
    outs = [""] * len(texts)
    if todo:
        done = model.translate([texts[i] for i in todo], images=images, lang=lang, beams=beams,
                               max_new_tokens=max_new_tokens)
        for i, tgt in zip(todo, done, strict=True):
            outs[i] = tgt
    if len(todo) < len(texts):
        console.print(f"translate: {len(texts) - len(todo)} empty input line(s) gave empty output line(s)")
    for src, tgt in zip(texts, outs, strict=True):
        line = json.dumps({"src": src, "lang": lang, "text": tgt}, ensure_ascii=False) if as_json else tgt
        typer.echo(line)
