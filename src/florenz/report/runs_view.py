"""What the report shows of the runs themselves: the run table, the training curves (log.jsonl) and the
gallery of held-out images with what each model wrote (outputs/generation_*.jsonl) beside the references.

Everything is read from the run directories; a run without outputs or logs simply contributes nothing here
(the table says which runs have scores), so a partial sweep still gets a report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from florenz.io import read_json

# (column in the runs table, header) for the run table; `_shuffled` twins are added when present
RUN_COLUMNS = [("preset", "preset"), ("P", "P"), ("S", "S"), ("T", "T"), ("seed", "seed"), ("C", "C (FLOP)"),
               ("ce_UC", "CE UC"), ("ce_ST", "CE ST"), ("ce_SC", "CE SC")]
QUALITY = [(f"{g}_{m}_{mode}", f"{g.upper()} {short} {tag}") for g in ("uc", "sc")
           for m, short in (("attribute_accuracy", "acc"), ("fidelity", "fid"))
           for mode, tag in (("prefix", "+pfx"), ("no_prefix", "-pfx"))]


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, float | np.floating):
        return f"{v:.3g}" if abs(v) >= 1e4 or abs(v) < 1e-2 else f"{v:.4g}"
    return str(v)


def run_table(runs: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the run table, sorted by size, samples, T, seed; shuffled controls where present."""
    cols = [(c, h) for c, h in RUN_COLUMNS if c in runs]
    for c, h in QUALITY:
        if c in runs and runs[c].notna().any():
            cols.append((c, h))
        if f"{c}_shuffled" in runs and runs[f"{c}_shuffled"].notna().any():
            cols.append((f"{c}_shuffled", f"{h} shuffled"))
    extra = sorted(c for c in runs.columns if c.endswith("_shuffled") and c not in {k for k, _ in cols})
    cols += [(c, c.replace("_", " ")) for c in extra]
    order = [c for c in ("P", "S", "T", "seed") if c in runs]
    d = runs.sort_values(order) if order else runs
    head = ["run"] + [h for _, h in cols]
    rows = [[str(r["run"])] + [_fmt(r[c]) for c, _ in cols] for _, r in d.iterrows()]
    return head, rows


HEADLINE = [("ce_UC", "CE UC"), ("uc_attribute_accuracy_prefix", "UC acc +pfx"), ("uc_fidelity_prefix", "UC fid +pfx"),
            ("uc_attribute_accuracy_no_prefix", "UC acc -pfx"), ("sc_attribute_accuracy_prefix", "SC acc +pfx"),
            ("uc_attribute_accuracy_prefix_shuffled", "UC acc +pfx shuffled"),
            ("sc_attribute_accuracy_prefix_shuffled", "SC acc +pfx shuffled")]


def seed_table(runs: pd.DataFrame) -> tuple[list[str], list[list[str]]] | None:
    """Per grid point (preset, S, T): mean and [min, max] over seeds of the headline numbers, and the grounding
    ratio (accuracy over its image-shuffled control) where that control was evaluated; None with one seed each."""
    keys = [c for c in ("preset", "P", "S", "T") if c in runs]
    if "seed" not in runs or not keys or runs.groupby(keys)["seed"].nunique().max() < 2:
        return None
    d = runs.copy()
    for g in ("uc", "sc"):
        acc, shuf = f"{g}_attribute_accuracy_prefix", f"{g}_attribute_accuracy_prefix_shuffled"
        if acc in d and shuf in d:
            d[f"{g}_grounding"] = d[acc] / d[shuf].where(d[shuf] > 0)
    cols = [(c, h) for c, h in HEADLINE if c in d and d[c].notna().any()]
    cols += [(f"{g}_grounding", f"{g.upper()} acc / shuffled") for g in ("uc", "sc") if f"{g}_grounding" in d]
    head = [*keys, "seeds"] + [h for _, h in cols]
    rows = []
    for key, grp in d.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cells = []
        for c, _ in cols:
            v = grp[c].dropna()
            cells.append("–" if v.empty else f"{v.mean():.4g} [{v.min():.4g}, {v.max():.4g}]")
        rows.append([_fmt(k) for k in key] + [str(grp["seed"].nunique())] + cells)
    return head, rows


def training_curves(root: Path, runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """run -> (stage, samples, loss) rows from its log.jsonl; unreadable lines are skipped (a log being written)."""
    out: dict[str, pd.DataFrame] = {}
    for run in runs["run"]:
        path = (root / run) if (root / run).is_dir() else root
        log = path / "log.jsonl"
        if not log.is_file():
            continue
        rows = []
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(r, dict) and isinstance(r.get("loss"), int | float) and "samples" in r:
                rows.append({"stage": str(r.get("stage", "train")), "samples": float(r["samples"]),
                             "loss": float(r["loss"])})
        out[str(run)] = pd.DataFrame(rows, columns=["stage", "samples", "loss"])
    return out


@dataclass
class GalleryItem:
    image_id: str
    image_png: bytes | None  # None when the dataset is not readable from here
    langs: list[str]
    unseen: set[str]
    refs: dict[str, str]  # lang -> first reference
    outputs: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # model -> lang -> mode -> text


def _read_outputs(run_dir: Path) -> list[dict]:
    rows = []
    for mode in ("prefix", "no_prefix"):
        p = run_dir / "outputs" / f"generation_{mode}.jsonl"
        if p.is_file():
            for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return [r for r in rows if isinstance(r, dict) and {"id", "lang", "mode", "text"} <= set(r)]


def _images(data_dir: Path, ids: list[str]) -> dict[str, bytes]:
    """PNG bytes of the held-out records named in `ids` (stops reading once all are found)."""
    import io

    from florenz.data.shards import decode_image, read_records

    found: dict[str, bytes] = {}
    try:
        for rec in read_records(data_dir, "heldout"):
            if rec.key in ids and rec.key not in found:
                buf = io.BytesIO()
                decode_image(rec).save(buf, format="PNG")
                found[rec.key] = buf.getvalue()
            if len(found) == len(ids):
                break
    except Exception:  # noqa: BLE001 - a missing or moved dataset leaves the gallery without pictures, not broken
        pass
    return found


def gallery(root: Path, runs: pd.DataFrame, n_images: int = 3) -> list[GalleryItem]:
    """Held-out images with, per model size (its run with the most samples), every language's output with and
    without the prefix, beside the first reference."""
    if "has_scores" not in runs:
        return []
    chosen = runs[runs["has_scores"].fillna(False).astype(bool)].sort_values(["P", "S"]).groupby("P").tail(1)
    per_model: dict[str, list[dict]] = {}
    data_dir = None
    for _, r in chosen.iterrows():
        run_dir = root / str(r["run"]) if (root / str(r["run"])).is_dir() else root
        rows = _read_outputs(run_dir)
        if rows:
            label = f"{r['preset']} (S={r['S']:.3g})" if isinstance(r.get("preset"), str) else str(r["run"])
            per_model[label] = rows
            if data_dir is None:
                res = read_json(run_dir / "result.json")
                data_dir = Path(res["data"]) if res.get("data") else None
    if not per_model:
        return []
    common = None
    for rows in per_model.values():
        ids = list(dict.fromkeys(str(x["id"]) for x in rows))
        common = ids if common is None else [i for i in common if i in set(ids)]
    ids = (common or [])[:n_images]
    unseen: set[str] = set()
    if data_dir is not None and (data_dir / "stats.json").is_file():
        from florenz.data.shards import unseen_caption_languages

        unseen = set(unseen_caption_languages(read_json(data_dir / "stats.json"))[1])
    pngs = _images(data_dir, ids) if data_dir is not None and data_dir.is_dir() else {}
    items = []
    for i in ids:
        item = GalleryItem(i, pngs.get(i), [], unseen, {})
        for model, rows in per_model.items():
            for x in rows:
                if str(x["id"]) != i:
                    continue
                item.outputs.setdefault(model, {}).setdefault(x["lang"], {})[x["mode"]] = str(x["text"])
                if x["lang"] not in item.refs and x.get("refs"):
                    refs = x["refs"]
                    item.refs[x["lang"]] = refs[0] if isinstance(refs, list) else str(refs)
                if x["lang"] not in item.langs:
                    item.langs.append(x["lang"])
        items.append(item)
    return items
