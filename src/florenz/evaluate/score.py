"""`florenz score`: score a hypotheses file against a references file without any model.

H.jsonl lines are {"id": ..., "text": ...}; R.jsonl lines are {"id": ..., "refs": [...]}. Pairing is by
id, and an id present in only one file is an error naming it (a silent drop would change the score).
"""

from __future__ import annotations

from pathlib import Path

from florenz.errors import FlorenzError
from florenz.evaluate.metrics.text import MetricResult, score_texts
from florenz.io import read_jsonl


def _read(path: Path, field: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for i, row in enumerate(read_jsonl(path), 1):
        if not isinstance(row, dict) or "id" not in row or field not in row:
            raise FlorenzError(f"{path}:{i}: expected an object with 'id' and {field!r}")
        key = str(row["id"])
        if key in out:
            raise FlorenzError(f"{path}:{i}: duplicate id {key!r}")
        out[key] = row[field]
    return out


def _preview(ids: list[str]) -> str:
    return ", ".join(repr(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def score_files(metric: str, hyps_path: str | Path, refs_path: str | Path, lang: str | None = None,
                segmenter: str = "default") -> MetricResult:
    hyps, refs = _read(Path(hyps_path), "text"), _read(Path(refs_path), "refs")
    only_h = sorted(set(hyps) - set(refs))
    only_r = sorted(set(refs) - set(hyps))
    if only_h or only_r:
        parts = []
        if only_h:
            parts.append(f"{len(only_h)} ids only in {hyps_path}: {_preview(only_h)}")
        if only_r:
            parts.append(f"{len(only_r)} ids only in {refs_path}: {_preview(only_r)}")
        raise FlorenzError("; ".join(parts))
    ids = list(hyps)
    for i in ids:
        if not isinstance(hyps[i], str):
            raise FlorenzError(f"{hyps_path}: id {i!r}: 'text' must be a string")
        r = refs[i]
        if isinstance(r, str):
            refs[i] = [r]
        elif not isinstance(r, list) or not r or not all(isinstance(x, str) for x in r):
            raise FlorenzError(f"{refs_path}: id {i!r}: 'refs' must be a non-empty list of strings")
    return score_texts(metric, [hyps[i] for i in ids], [refs[i] for i in ids], lang, segmenter)  # type: ignore[misc]
