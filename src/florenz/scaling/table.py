"""Runs directory -> one pandas table (one row per run), the input of every fit, plot and claim.

A run dir is any directory holding result.json (found recursively). A run whose result.json is broken is
left out, a run without scores.json (or whose scores.json is unreadable or carries no CE) is kept with NaN
scores; each of these is listed with its reason in `RunsTable.left_out`, so fit and report say what they
did not use instead of failing on one bad file or dropping runs silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    left_out: list[dict] = field(default_factory=list)  # {"run", "reason", "used": "no" | "no CE"}

    def left_out_text(self) -> str:
        """One line per run not (fully) used, e.g. 'r1: result.json: invalid JSON ... (not used)'."""
        return "\n".join(f"  {x['run']}: {x['reason']} ({x['effect']})" for x in self.left_out)


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


def _result_row(d: Path, root: Path) -> dict:
    """The run columns from result.json; a broken file raises FlorenzError naming it and the problem."""
    res = read_json(d / "result.json")
    if not isinstance(res, dict):
        raise FlorenzError(f"{d / 'result.json'}: expected a JSON object")
    row: dict = {"run": str(d.relative_to(root)) if d != root else d.name}
    for key, col in RESULT_KEYS.items():
        row[col] = res.get(key)
    for key in ("params", "trainable_params", "samples", "flops_per_sample"):
        v = res.get(key)
        if v is None:
            raise FlorenzError(f"{d / 'result.json'}: missing {key!r}")
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v <= 0:
            raise FlorenzError(f"{d / 'result.json'}: {key!r} must be a positive number, got {v!r}")
    row["T"] = _decoder_T(res.get("decoder_languages"))
    row["C"] = float(compute_axis(row["S"], row["F"], row["Pt"], row["P"]))
    return row


def _add_scores(row: dict, sc: dict, gen_rows: list[dict]) -> bool:
    """Copy CE, summary and generation numbers into the row; False when there is no CE in it."""
    groups = sc.get("groups") if isinstance(sc.get("groups"), dict) else {}
    for g in GROUPS:
        v = groups.get(g, np.nan)
        row[f"ce_{g}"] = v if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
    for k, v in (sc.get("ce") or {}).items():
        row[f"ce:{k}"] = v
    for k, v in (sc.get("summary") or {}).items():
        if isinstance(v, int | float):
            row[k] = v
    for mode, per_lang in (sc.get("generation") or {}).items():
        for lang, metrics in (per_lang or {}).items():
            for m in GEN_METRICS:
                if isinstance(metrics, dict) and m in metrics:
                    gen_rows.append({"run": row["run"], "mode": mode, "lang": lang, "metric": m,
                                     "value": metrics[m]})
    return any(np.isfinite(row[f"ce_{g}"]) for g in GROUPS)


def load_runs(root: str | Path) -> RunsTable:
    """Read every run under `root` into a RunsTable; bad runs are left out and listed, never fatal,
    unless no run at all is usable (then the error lists why)."""
    root = Path(root)
    rows, gen_rows, missing, left_out = [], [], 0, []
    for d in find_run_dirs(root):
        name = str(d.relative_to(root)) if d != root else d.name
        try:
            row = _result_row(d, root)
        except FlorenzError as e:
            left_out.append({"run": name, "reason": str(e), "effect": "not used"})
            continue
        scores_path = d / "scores.json"
        row["has_scores"] = False
        if not scores_path.is_file():
            missing += 1
        else:
            try:
                sc = read_json(scores_path)
                if not isinstance(sc, dict):
                    raise FlorenzError(f"{scores_path}: expected a JSON object")
            except FlorenzError as e:
                left_out.append({"run": name, "reason": str(e), "effect": "no scores used"})
            else:
                row["has_scores"] = True
                if not _add_scores(row, sc, gen_rows):
                    left_out.append({"run": name, "reason": f"{scores_path}: no CE (groups UC/ST/SC)",
                                     "effect": "not in the CE fits"})
        rows.append(row)
    if not rows and not left_out:
        raise FlorenzError(f"no runs (no result.json) under {root}")
    if not rows:
        why = "; ".join(f"{x['run']}: {x['reason']}" for x in left_out[:3])
        raise FlorenzError(f"no usable runs under {root}: every result.json is broken" + (f" ({why})" if why else ""))
    runs = pd.DataFrame(rows)
    for g in GROUPS:
        if f"ce_{g}" not in runs:
            runs[f"ce_{g}"] = np.nan
        runs[f"ce_{g}"] = pd.to_numeric(runs[f"ce_{g}"], errors="coerce")
    gen = pd.DataFrame(gen_rows, columns=["run", "mode", "lang", "metric", "value"])
    return RunsTable(runs=runs, generation=gen, n_without_scores=missing, root=root, left_out=left_out)
