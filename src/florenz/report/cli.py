"""`florenz report RUNS_DIR`: report.md / report.html with plots, laws and the paper's claims checked."""

from __future__ import annotations

from pathlib import Path

import typer

from florenz.clitools import console, emit, json_option, out_option
from florenz.errors import FlorenzError
from florenz.io import check_dir_path


def report(
    runs_dir: Path = typer.Argument(..., help="Runs directory (any dirs with result.json under it)."),
    out: Path | None = out_option("Where to write report.md/.html and figures (default: RUNS_DIR)."),
    chinchilla: bool = typer.Option(True, "--chinchilla/--no-chinchilla", help="Also fit the Chinchilla form."),
    bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap resamples for Chinchilla CIs."),
    as_json: bool = json_option(),
) -> None:
    """Write report.md and report.html (plots, laws, the paper's claims checked) for a runs directory."""
    if bootstrap < 0:
        raise FlorenzError(f"--bootstrap must be >= 0, got {bootstrap}")
    if out is not None:
        check_dir_path(out)
    from florenz.report.report import build_report

    rep = build_report(runs_dir, out, chinchilla=chinchilla, n_bootstrap=bootstrap)
    console.print(f"wrote {rep.files['report.md']} and {rep.files['report.html']}")
    claims = [{"id": c.id, "verdict": c.verdict, "evidence": c.evidence, "numbers": c.numbers} for c in rep.claims]
    emit({"n_runs": rep.n_runs, "n_without_scores": rep.n_without_scores, "claims": claims,
          "files": {k: str(v) for k, v in rep.files.items()}}, as_json, "\n".join(rep.findings))
