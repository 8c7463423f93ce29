"""Runs directory -> one pandas table (one row per run), the input of every fit, plot and claim.

A run dir is any directory holding result.json (found recursively). Runs without scores.json are
kept with NaN scores and counted, so the report can say how many were skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from florenz.errors import FlorenzError
from florenz.io import read_json

GROUPS = ("UC", "ST", "SC")
RESULT_KEYS = {
    "preset": "preset",
    "decoder_kind": "decoder_kind",
    "params": "P",
    "trainable_params": "Pt",
    "samples": "S",
    "decoder_languages": "T",
    "seed": "seed",
    "wall_time_s": "wall_time_s",
    "flops_per_sample": "F",
    "compute": "C_reported",
    "final_loss": "final_loss",
}
GEN_METRICS = ("attribute_accuracy", "fidelity", "bleu", "chrf", "cider")


@dataclass
class RunsTable:
    """The runs table plus a long per-language generation table and bookkeeping counts."""

    runs: pd.DataFrame
    generation: pd.DataFrame
    n_without_scores: int
    root: Path


def compute_axis(s, f, pt, p) -> np.ndarray:
    """C = S * F * (1 + Pt/P): training FLOPs, counting the backward pass only for trainable weights."""
    s, f, pt, p = (np.asarray(v, float) for v in (s, f, pt, p))
    return s * f * (1.0 + pt / p)


def find_run_dirs(root: str | Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise FlorenzError(f"runs directory not found: {root}")
    return sorted(p.parent for p in root.rglob("result.json"))


def _decoder_T(value) -> float:
    """T may be stored as a count or as the list of decoder languages."""
    if isinstance(value, list | tuple):
        return float(len(value))
    return float(value) if value is not None else np.nan


def load_runs(root: str | Path) -> RunsTable:
    """Read every run under `root` into a RunsTable; a run dir without a valid result.json is an error."""
    root = Path(root)
    rows, gen_rows, missing = [], [], 0
    for d in find_run_dirs(root):
        res = read_json(d / "result.json")
        if not isinstance(res, dict):
            raise FlorenzError(f"{d / 'result.json'}: expected a JSON object")
        row: dict = {"run": str(d.relative_to(root)) if d != root else d.name}
        for key, col in RESULT_KEYS.items():
            row[col] = res.get(key)
        row["T"] = _decoder_T(res.get("decoder_languages"))
        for key in ("params", "trainable_params", "samples", "flops_per_sample"):
            if res.get(key) is None:
                raise FlorenzError(f"{d / 'result.json'}: missing {key!r}")
        row["C"] = float(compute_axis(row["S"], row["F"], row["Pt"], row["P"]))
        scores_path = d / "scores.json"
        row["has_scores"] = scores_path.is_file()
        if row["has_scores"]:
            sc = read_json(scores_path)
            for g in GROUPS:
                row[f"ce_{g}"] = sc.get("groups", {}).get(g, np.nan)
            for k, v in sc.get("ce", {}).items():
                row[f"ce:{k}"] = v
            for k, v in sc.get("summary", {}).items():
                if isinstance(v, int | float):
                    row[k] = v
            for mode, per_lang in sc.get("generation", {}).items():
                for lang, metrics in (per_lang or {}).items():
                    for m in GEN_METRICS:
                        if isinstance(metrics, dict) and m in metrics:
                            gen_rows.append({"run": row["run"], "mode": mode, "lang": lang, "metric": m,
                                             "value": metrics[m]})
        else:
            missing += 1
        rows.append(row)
    if not rows:
        raise FlorenzError(f"no runs (no result.json) under {root}")
    runs = pd.DataFrame(rows)
    for g in GROUPS:
        if f"ce_{g}" not in runs:
            runs[f"ce_{g}"] = np.nan
        runs[f"ce_{g}"] = pd.to_numeric(runs[f"ce_{g}"], errors="coerce")
    gen = pd.DataFrame(gen_rows, columns=["run", "mode", "lang", "metric", "value"])
    return RunsTable(runs=runs, generation=gen, n_without_scores=missing, root=root)
