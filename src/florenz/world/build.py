"""Build the micro world: the embedded default data set on which the whole Florenz study runs.

**Images.** 64 px RGB scenes of one to three objects (6 shapes x 7 colours x 2 sizes, objects
distinct in shape+colour) on a textured background, with jitter in position, radius, rotation and
colour plus pixel noise (``render.py``). Objects are 9-15 px in radius so shape is learnable.
One-object scenes state a position (left/right/top/bottom/center); multi-object scenes state one
spatial relation between two of their objects (left of / right of / above / below).

**Text.** One grammar per language (``grammars/{en,de,fr,es,ru,zh}.py``) with the language's real
words, word order and agreement (German accusative/dative declension, Russian case endings, French
and Spanish gender and post-nominal adjectives, Chinese measure words), three paraphrase variants
each. One lexicon-driven parser (``parse.py``) reads every language back to the scene.

**Coverage (as in the paper).** Training records carry caption samples only in
``caption_languages`` (en, de) and translation samples (image + English -> X) into every
``translation_languages`` language (de, fr, es, ru, zh). The held-out split has captions in *all*
languages (UC = translation-only languages, SC = caption languages) and translations into every
translation language (ST), from scene contents that never occur in training (canonical
``scene_key``: objects, relation, position; layout ignored) nor in the decoder LM text.

**Translation sources.** A translation sample's English source must not be the image's complete
caption, or the image would be redundant for the task. The paper pairs translation sentences with
images by similarity, so the sentence matches the image only partly. We emulate that: the source
describes a random non-empty subset of the objects, states each colour/size with probability
``src_keep_attribute`` (0.6), keeps the relation with p=0.7 if both of its objects survive, the
position with p=0.5, and with probability ``src_loose`` (0.1) changes one stated attribute so it no
longer fits the image (an imperfect match). The target is the same partial scene in language X
(an independently chosen paraphrase); the sample's ``content`` holds that partial scene.

**Decoder LM text.** ``lm/{lang}.txt``: ``lm_sentences`` per language, half of them starting with
the caption prefix ("La photo montre ..."), see ``lm_text.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
from rich.progress import Progress

from florenz.clitools import console
from florenz.data.shards import Record, ShardWriter, write_stats
from florenz.data.tokenizer import save_tokenizer, train_tokenizer
from florenz.errors import FlorenzError
from florenz.prompts import all_prompt_texts, decoder_target
from florenz.world.config import WorldConfig
from florenz.world.grammar import get_grammar
from florenz.world.lm_text import lm_sentences
from florenz.world.render import layout, png_bytes, render
from florenz.world.scene import content_only, partial_scene, sample_content, scene_key

WORLD_VERSION = 3  # bump when generation changes so cached worlds are rebuilt (3: Han/kana tokenized per character)
_SPLIT_ID = {"train": 0, "heldout": 1}


def heldout_contents(cfg: WorldConfig) -> list[dict]:
    """Distinct held-out scene contents (sampled first; training avoids their keys)."""
    rng = np.random.default_rng([cfg.seed, 1000])
    out, seen = [], set()
    for _ in range(cfg.heldout_scenes * 200):
        c = sample_content(rng, cfg.min_objects, cfg.max_objects)
        if scene_key(c) not in seen:
            seen.add(scene_key(c))
            out.append(c)
            if len(out) == cfg.heldout_scenes:
                return out
    raise FlorenzError(f"world.heldout_scenes={cfg.heldout_scenes}: only {len(out)} distinct scenes exist "
                       f"with min_objects={cfg.min_objects}, max_objects={cfg.max_objects}")


def make_record(cfg: WorldConfig, split: str, index: int, content: dict | None, exclude: set) -> Record:
    """One image with its samples; deterministic in (seed, split, index)."""
    rng = np.random.default_rng([cfg.seed, _SPLIT_ID[split], index])
    scene = None
    for _ in range(200):
        c = content
        while c is None:
            c = sample_content(rng, cfg.min_objects, cfg.max_objects)
            c = None if scene_key(c) in exclude else c
        for _ in range(50):  # re-place the same content; a new content only if it will not fit
            scene = layout(c, rng, cfg.image_size, cfg.small_radius, cfg.large_radius)
            if scene is not None:
                break
        if scene is not None:
            break
    if scene is None:
        raise FlorenzError(f"world: could not place objects for {split} record {index}; try a larger image_size")
    image = png_bytes(render(scene, cfg.image_size, cfg.noise, rng))
    plain = content_only(scene)
    samples = []
    cap_langs = cfg.caption_languages if split == "train" else cfg.languages
    for lang in cap_langs:
        g = get_grammar(lang)
        k = min(cfg.captions_per_image, g.n_variants)
        texts = dict.fromkeys(g.describe(plain, int(v)) for v in rng.choice(g.n_variants, size=k, replace=False))
        samples += [{"task": "caption", "lang": lang, "style": "short", "src": "", "tgt": t} for t in texts]
    en = get_grammar("en")
    for lang in cfg.translation_languages:
        part = partial_scene(plain, rng, cfg.src_keep_attribute, cfg.src_loose)
        src = en.describe(part, int(rng.integers(en.n_variants)))
        g = get_grammar(lang)
        tgt = g.describe(part, int(rng.integers(g.n_variants)))
        samples.append({"task": "translation", "lang": lang, "style": "short", "src": src, "tgt": tgt,
                        "content": part})
    key = f"{split}_{index:06d}"
    return Record(key=key, image=image, image_ext="png", meta={"id": key, "samples": samples, "scene": scene})


def _shard_job(args: tuple) -> tuple[Counter, dict, int]:
    """Write one shard (in a worker process); return its class counts and distinct texts."""
    cfg, out, split, index, rows, contents, exclude = args
    texts: dict[str, None] = {}
    with ShardWriter(out, split, cfg.shard_size, start_index=index) as writer:
        for j, i in enumerate(rows):
            rec = make_record(cfg, split, i, contents[j] if contents is not None else None, exclude)
            writer.write(rec)
            for s in rec.meta["samples"]:
                texts[decoder_target(s["task"], s["lang"], s["tgt"])] = None
                if s["src"]:
                    texts[s["src"]] = None
    return writer.counts, texts, len(rows)


def _lm_job(args: tuple) -> list[str]:
    return lm_sentences(*args)


def build_world(cfg: WorldConfig, out_dir: str | Path, workers: int | None = None) -> Path:
    """Write shards, stats.json, tokenizer.json and lm/*.txt for `cfg` into `out_dir`.

    Records are generated in `workers` processes (default: all cores); each is seeded by
    (seed, split, index), so the output does not depend on the number of workers."""
    cfg.validate()
    out = Path(out_dir)
    if out.exists() and any(out.glob("*-*.tar")):
        raise FlorenzError(f"output directory {out} already holds shards; choose an empty --out")
    out.mkdir(parents=True, exist_ok=True)
    held = heldout_contents(cfg)
    exclude = {scene_key(c) for c in held}
    texts: dict[str, None] = {}  # distinct texts, in a deterministic order, for the tokenizer
    counts: dict[str, Counter] = {}
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    workers = max(1, min(workers or os.cpu_count() or 1, 8))
    with Progress(console=console, transient=True) as progress, ctx.Pool(workers) as pool:
        for split, n in (("heldout", len(held)), ("train", cfg.train_scenes)):
            task = progress.add_task(f"world {split}", total=n)
            counts[split] = Counter()
            starts = range(0, n, cfg.shard_size)
            jobs = [(cfg, out, split, k, range(a, min(n, a + cfg.shard_size)),
                     held[a:a + cfg.shard_size] if split == "heldout" else None, exclude) for k, a in enumerate(starts)]
            for shard_counts, shard_texts, done in pool.imap(_shard_job, jobs):
                counts[split].update(shard_counts)
                texts.update(shard_texts)
                progress.advance(task, done)
        task = progress.add_task("world lm text", total=len(cfg.languages))
        (out / "lm").mkdir(exist_ok=True)
        jobs = [(cfg, lang, cfg.lm_sentences, cfg.seed, exclude) for lang in cfg.languages]
        for lang, lines in zip(cfg.languages, pool.imap(_lm_job, jobs), strict=True):
            (out / "lm" / f"{lang}.txt").write_text("".join(x + "\n" for x in lines), encoding="utf-8")
            texts.update(dict.fromkeys(lines))
            progress.advance(task)
    save_tokenizer(train_tokenizer(tokenizer_texts(cfg, list(texts)), vocab_size=cfg.vocab_size), out)
    write_stats(out, counts, seed=cfg.seed, settings=dataclasses.asdict(cfg), world_version=WORLD_VERSION,
                lm_sentences={lang: cfg.lm_sentences for lang in cfg.languages})
    return out


def tokenizer_texts(cfg: WorldConfig, texts: list[str], limit: int = 60000) -> list[str]:
    """An even, deterministic subsample of the world's distinct texts (BPE statistics saturate long
    before 200k sentences) plus every prompt and every lexicon phrase, so no character is unknown."""
    step = max(1, len(texts) // limit)
    lexicon = [phrase for lang in cfg.languages for phrase, _ in get_grammar(lang).entries()]
    return texts[::step] + all_prompt_texts(cfg.languages) + lexicon


def world_hash(cfg: WorldConfig) -> str:
    blob = json.dumps({"v": WORLD_VERSION, **dataclasses.asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    root = os.environ.get("FLORENZ_CACHE")
    return Path(root) / "worlds" if root else Path.home() / ".cache" / "florenz" / "worlds"


def ensure_world(cfg: WorldConfig, cache_dir: str | Path | None = None) -> Path:
    """The world for `cfg` in a cache keyed by its settings: built once, then reused."""
    cfg.validate()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / f"world-{world_hash(cfg)}"
    if (target / "stats.json").is_file():
        return target
    tmp = root / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    build_world(cfg, tmp)
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "stats.json").is_file():
            raise
    return target
