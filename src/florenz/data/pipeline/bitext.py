"""Bitext side of the alignment (step 4): filter pairs, embed every English sentence once, cache.

The cache lives in the build's work dir: `bitext-{lang}.jsonl` (kept pairs), `bitext-{lang}.npy`
(their normalised embeddings, memory-mapped when read) and a done marker with the skip counts, so a
restarted build neither re-embeds the bitext nor holds it all in memory.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from florenz.data.pipeline.backends import Embedder
from florenz.data.pipeline.sources import iter_bitext
from florenz.io import read_json, write_json


@dataclass
class BitextIndex:
    lang: str
    pairs: list[tuple[int, str, str]]  # (source row, en, tgt)
    embeddings: np.ndarray  # [n, d] float32, memory-mapped
    skipped: dict[str, int]


def filter_reason(en: str, tgt: str, max_chars: int) -> str | None:
    """Why a pair is unusable (counted in the stats), or None."""
    if not en.strip() or not tgt.strip():
        return "bitext_empty"
    if len(en) > max_chars or len(tgt) > max_chars:
        return "bitext_too_long"
    return None


def prepare_bitext(path: Path, lang: str, work: Path, embedder: Embedder | None, max_chars: int,
                   block: int = 4096, progress=None) -> BitextIndex:
    """Filter + embed (or load the cached result) for one language's bitext file."""
    done = work / f"bitext-{lang}.done.json"
    rows_path, emb_path = work / f"bitext-{lang}.jsonl", work / f"bitext-{lang}.npy"
    if not done.is_file():
        assert embedder is not None, "embedder needed to embed uncached bitext"
        skipped: Counter[str] = Counter()
        pairs: list[tuple[int, str, str]] = []
        for row, en, tgt in iter_bitext(path, lang):
            en, tgt = " ".join(en.split()), " ".join(tgt.split())
            reason = filter_reason(en, tgt, max_chars)
            if reason:
                skipped[reason] += 1
            else:
                pairs.append((row, en, tgt))
        tmp_rows, tmp_emb = rows_path.with_suffix(".jsonl.partial"), work / f"bitext-{lang}.partial.npy"
        with tmp_rows.open("w", encoding="utf-8") as f:
            for row, en, tgt in pairs:
                f.write(json.dumps({"row": row, "en": en, "tgt": tgt}, ensure_ascii=False) + "\n")
        task = progress.add_task(f"embed bitext {lang}", total=len(pairs)) if progress else None
        mm = None
        for start in range(0, len(pairs), block):
            emb = embedder.embed_texts([p[1] for p in pairs[start:start + block]]).numpy().astype(np.float32)
            if mm is None:
                mm = np.lib.format.open_memmap(tmp_emb, mode="w+", dtype=np.float32, shape=(len(pairs), emb.shape[1]))
            mm[start:start + len(emb)] = emb
            if progress:
                progress.advance(task, len(emb))
        if mm is None:
            np.save(tmp_emb, np.zeros((0, 1), dtype=np.float32))
        else:
            mm.flush()
            del mm
        tmp_rows.replace(rows_path)
        tmp_emb.replace(emb_path)
        write_json(done, {"lang": lang, "source": str(path), "kept": len(pairs), "skipped": dict(skipped)})
    meta = read_json(done)
    with rows_path.open(encoding="utf-8") as f:
        pairs = [(o["row"], o["en"], o["tgt"]) for o in map(json.loads, f)]
    return BitextIndex(lang, pairs, np.load(emb_path, mmap_mode="r"), dict(meta["skipped"]))
