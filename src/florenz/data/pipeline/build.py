"""The chunked, resumable driver of `florenz data build`: describe, translate, align, shard.

Images stream in fixed-size chunks (bounded memory). A chunk is committed by writing its shard
(ShardWriter renames `.partial` on close) and then `work/chunk-NNNNNN.done.json` with its counts;
a restart skips committed chunks and redoes only the one that was cut off. The first
`heldout_chunks` chunks become the held-out split. stats.json is merged from the markers at the end.
"""

from __future__ import annotations

import dataclasses
import io
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from florenz.clitools import console
from florenz.data.pipeline.align import topk_cosine
from florenz.data.pipeline.backends import Describer, Embedder, Translator
from florenz.data.pipeline.bitext import BitextIndex, prepare_bitext
from florenz.data.pipeline.samples import annotation_samples, split_sentences
from florenz.data.pipeline.sources import ImageItem, iter_images
from florenz.data.shards import Record, ShardWriter, write_stats
from florenz.errors import FlorenzError
from florenz.io import read_json, write_json
from florenz.languages import check_languages

WORK = "work"
DELAY_ENV = "FLORENZ_PIPELINE_CHUNK_DELAY"  # seconds to pause after each committed chunk (kill/resume tests)


@dataclass
class BuildSettings:
    """Everything that determines the output; a resumed build must use the same values."""

    images: str
    bitext: dict[str, str] = field(default_factory=dict)  # lang -> TSV/JSONL path
    caption_langs: list[str] = field(default_factory=lambda: ["en", "de"])
    top_n: int = 4  # bitext pairs attached to each image, per language
    chunk_size: int = 1000
    heldout_chunks: int = 1
    seed: int = 0
    batch_size: int = 16
    max_text_chars: int = 400  # longer bitext sides are skipped
    max_description_chars: int = 2000  # longer descriptions are skipped
    translate_context: bool = True  # translate each sentence as "sentence ### (description)"
    nn_backend: str = "torch"
    nn_block_size: int = 65536

    def validate(self) -> None:
        check_languages(self.caption_langs, "caption languages")
        if "en" not in self.caption_langs:
            raise FlorenzError("caption languages must include 'en' (the describer writes English)")
        check_languages(list(self.bitext), "bitext languages")
        for name in ("top_n", "chunk_size", "batch_size", "max_text_chars", "max_description_chars"):
            if getattr(self, name) <= 0:
                raise FlorenzError(f"data build: {name} must be positive, got {getattr(self, name)}")
        if self.heldout_chunks < 0:
            raise FlorenzError(f"data build: heldout_chunks must be >= 0, got {self.heldout_chunks}")


@dataclass
class Backends:
    describer: Describer
    translator: Translator
    embedder: Embedder


def chunks(items: Iterator[ImageItem], size: int) -> Iterator[list[ImageItem]]:
    buf: list[ImageItem] = []
    for it in items:
        buf.append(it)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


def chunk_shard(index: int, s: BuildSettings) -> tuple[str, int]:
    """(split, shard index) of chunk `index`: the first `heldout_chunks` chunks are held out."""
    return ("heldout", index) if index < s.heldout_chunks else ("train", index - s.heldout_chunks)


def _check_settings(out: Path, s: BuildSettings) -> None:
    path = out / WORK / "settings.json"
    now = dataclasses.asdict(s)
    if path.is_file():
        before = read_json(path)
        if before != now:
            diff = sorted(k for k in now if before.get(k) != now[k])
            raise FlorenzError(f"{out} holds a build with other settings ({', '.join(diff)}); use a fresh --out")
    else:
        write_json(path, now)


def run_build(out: str | Path, s: BuildSettings, load_backends) -> dict:
    """Build (or finish building) the dataset in `out`; `load_backends()` is called only if work remains."""
    from rich.progress import Progress

    s.validate()
    out = Path(out)
    work = out / WORK
    work.mkdir(parents=True, exist_ok=True)
    _check_settings(out, s)
    for stale in out.glob("*.partial"):
        stale.unlink()
    backends: Backends | None = None

    def get_backends() -> Backends:
        nonlocal backends
        if backends is None:
            backends = load_backends()
        return backends

    done_chunks, redone = [], []
    with Progress(console=console, transient=False) as progress:
        indexes: dict[str, BitextIndex] = {}
        for lang, path in sorted(s.bitext.items()):
            cached = (work / f"bitext-{lang}.done.json").is_file()
            emb = None if cached else get_backends().embedder
            indexes[lang] = prepare_bitext(Path(path), lang, work, emb, s.max_text_chars, progress=progress)
        task = progress.add_task("chunks", total=None)
        for i, chunk in enumerate(chunks(iter_images(s.images), s.chunk_size)):
            marker = work / f"chunk-{i:06d}.done.json"
            if marker.is_file():
                done_chunks.append(i)
            else:
                result = process_chunk(i, chunk, s, get_backends(), indexes, out, progress)
                write_json(marker, result)
                redone.append(i)
                if os.environ.get(DELAY_ENV):
                    time.sleep(float(os.environ[DELAY_ENV]))
            progress.advance(task)
    return finalize(out, s, indexes, resumed=done_chunks, processed=redone)


def process_chunk(index: int, items: list[ImageItem], s: BuildSettings, b: Backends,
                  indexes: dict[str, BitextIndex], out: Path, progress) -> dict:
    """Steps 1-6 + sample conversion for one chunk; returns its done-marker content."""
    from PIL import Image

    skipped: Counter[str] = Counter()
    images, kept = [], []
    for it in items:
        try:
            with Image.open(io.BytesIO(it.data)) as im:
                images.append(im.convert("RGB"))
            kept.append(it)
        except (OSError, ValueError, Image.DecompressionBombError):
            skipped["corrupt_image"] += 1
    task = progress.add_task(f"chunk {index}: describe", total=len(images))
    descriptions: list[str] = []
    for j in range(0, len(images), s.batch_size):
        descriptions += b.describer.describe(images[j:j + s.batch_size])
        progress.advance(task, len(images[j:j + s.batch_size]))
    progress.remove_task(task)
    rows = []
    for it, im, desc in zip(kept, images, descriptions, strict=True):
        sents = split_sentences(desc)
        if not sents:
            skipped["empty_description"] += 1
        elif len(desc) > s.max_description_chars:
            skipped["long_description"] += 1
        else:
            rows.append((it, im, sents))
    ann = [{"id": it.key, "alt_text": it.alt_text, "description": {"en": sents}, "matches": {}}
           for it, _, sents in rows]
    _translate_descriptions(ann, s, b.translator, progress, index)
    if indexes and rows:
        img_emb = b.embedder.embed_images([im for _, im, _ in rows])
        for lang, idx in sorted(indexes.items()):
            scores, ids = topk_cosine(img_emb, idx.embeddings, s.top_n, s.nn_block_size, s.nn_backend)
            for a, sc, ii in zip(ann, scores.tolist(), ids.tolist(), strict=True):
                a["matches"][lang] = [{"en": idx.pairs[k][1], "tgt": idx.pairs[k][2], "row": idx.pairs[k][0],
                                       "score": round(float(v), 6)} for v, k in zip(sc, ii, strict=True)]
    split, shard_index = chunk_shard(index, s)
    with ShardWriter(out, split, shard_size=max(1, len(rows)), start_index=shard_index) as w:
        for (it, _, _), a in zip(rows, ann, strict=True):
            a["samples"] = annotation_samples(a, s.caption_langs, s.seed)
            w.write(Record(key=it.key, image=it.data, image_ext=it.ext,
                           meta={"id": a["id"], "samples": a["samples"], **{k: v for k, v in a.items()
                                                                            if k not in ("id", "samples")}}))
    return {"chunk": index, "split": split, "shards": w.shards, "images": len(items), "records": w.records,
            "counts": dict(w.counts), "skipped": dict(skipped)}


def _translate_descriptions(ann: list[dict], s: BuildSettings, translator: Translator, progress, index: int) -> None:
    """Step 2: every description sentence into each other caption language, sentence-aligned."""
    flat = [(a, j) for a in ann for j in range(len(a["description"]["en"]))]
    for lang in s.caption_langs:
        if lang == "en" or not flat:
            continue
        task = progress.add_task(f"chunk {index}: translate {lang}", total=len(flat))
        out: list[str] = []
        for j in range(0, len(flat), s.batch_size):
            part = flat[j:j + s.batch_size]
            texts = [a["description"]["en"][k] for a, k in part]
            ctx = [" ".join(a["description"]["en"]) for a, _ in part] if s.translate_context else None
            out += translator.translate(texts, lang, contexts=ctx)
            progress.advance(task, len(part))
        progress.remove_task(task)
        for a in ann:
            a["description"][lang] = []
        for (a, _), t in zip(flat, out, strict=True):
            a["description"][lang].append(t)


def finalize(out: Path, s: BuildSettings, indexes: dict[str, BitextIndex], resumed: list[int],
             processed: list[int]) -> dict:
    """Merge the chunk markers into stats.json (counts per split, skips, settings)."""
    split_counts: dict[str, Counter] = {"train": Counter(), "heldout": Counter()}
    skipped: Counter[str] = Counter()
    images = records = 0
    for marker in sorted((out / WORK).glob("chunk-*.done.json")):
        m = read_json(marker)
        split_counts[m["split"]].update(m["counts"])
        skipped.update(m["skipped"])
        images += m["images"]
        records += m["records"]
    for idx in indexes.values():
        skipped.update(idx.skipped)
    stats = write_stats(out, split_counts, seed=s.seed, settings=dataclasses.asdict(s), images=images,
                        records=records, skipped=dict(sorted(skipped.items())),
                        bitext_pairs={lang: len(idx.pairs) for lang, idx in sorted(indexes.items())},
                        caption_languages=s.caption_langs)
    return {"out": str(out), "stats": stats, "chunks_resumed": resumed, "chunks_processed": processed}
