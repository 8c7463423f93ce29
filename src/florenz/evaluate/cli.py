"""CLI of the evaluation stage: `florenz eval` (a run or checkpoint) and `florenz score` (files only)."""

from __future__ import annotations

from pathlib import Path

import typer

from florenz.clitools import console, emit, json_option, out_option, set_option


def evaluate(
    target: Path = typer.Argument(..., help="Run directory (with model/ and config.toml) or a checkpoint dir."),
    out: Path | None = out_option("Where scores.json and outputs/ go (default: the run directory)."),
    data: Path | None = typer.Option(None, "--data", help="Dataset dir (default: the one recorded in the run)."),
    sets: list[str] = set_option(),
    as_json: bool = json_option(),
) -> None:
    """Evaluate a run or checkpoint: held-out CE, generation, metrics; scores.json goes to --out."""
    from florenz.evaluate.runner import run_eval

    scores = run_eval(target, out=out, data=data, overrides=sets)
    summary = scores.get("summary", {})
    text = "\n".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary.items())
    emit(scores if as_json else summary, as_json, text or "no summary numbers")


def score(
    metric: str = typer.Option(..., "--metric", "-m", help="cider | bleu4 | bleu | chrf"),
    hyps: Path = typer.Option(..., "--hyps", help='JSONL lines {"id": ..., "text": ...}'),
    refs: Path = typer.Option(..., "--refs", help='JSONL lines {"id": ..., "refs": [...]}'),
    lang: str | None = typer.Option(None, "--lang", help="Target language (tokenisation, BLEU tokenizer)."),
    segmenter: str = typer.Option("default", "--segmenter", help="default | word | char | stanza (CIDEr/BLEU-4)."),
    as_json: bool = json_option(),
) -> None:
    """Score hypotheses against references without a model (CIDEr, BLEU-4, BLEU, chrF)."""
    from florenz.evaluate.score import score_files

    res = score_files(metric, hyps, refs, lang, segmenter)
    if not as_json:
        console.print(f"[dim]{res.metric}[/dim]")
    emit({"metric": res.metric, "score": res.score, "signature": res.signature}, as_json,
         f"{res.score:.4f}  {res.signature}")
