"""`florenz eval`: every number for one run or checkpoint, written with the raw outputs beside it.

Reads a run directory (model/, config.toml, result.json's `data`) or a model/checkpoint directory,
computes held-out CE per class and the UC/ST/SC groups, generates with and without the decoder prefix,
scores the generations (micro world: attribute accuracy + in-language share; otherwise language-ID
fidelity; BLEU/chrF/CIDEr against the held-out references) and any configured benchmarks, and writes
scores.json (layout in DESIGN.md) + outputs/*.jsonl to --out.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from florenz.clitools import console
from florenz.config import Config, load_config
from florenz.data.shards import decode_image, read_records, read_stats
from florenz.errors import FlorenzError
from florenz.evaluate.benchmarks import check_benchmarks, run_benchmarks
from florenz.evaluate.config import EvalConfig
from florenz.evaluate.generation import generate_texts
from florenz.evaluate.loss import EvalSample, ce_groups, ce_per_class, group_languages, sample_ce
from florenz.evaluate.metrics.text import score_texts
from florenz.io import check_dir_path, dir_lock, read_json, write_json, write_jsonl


def resolve_target(target: str | Path) -> tuple[Path, Path | None]:
    """(model dir, run dir or None) for a run directory or a model/checkpoint directory."""
    target = Path(target)
    if not target.is_dir():
        raise FlorenzError(f"eval: not a directory: {target}")
    if (target / "model").is_dir():
        return target / "model", target
    for up in (target.parent, target.parent.parent):  # checkpoints/step-X/ or model/ inside a run dir
        if (up / "config.toml").is_file():
            return target, up
    return target, None


def load_for_eval(model_dir: Path, cfg: Config | None = None, data_dir: Path | None = None):
    """(model, processor) from a model directory, or from a training checkpoint (state.pt) of a run,
    rebuilt from the run's config and its data's tokenizer."""
    from florenz.models.checkpoint import load_model
    from florenz.train.checkpoint import STATE_FILE

    if (model_dir / STATE_FILE).is_file():
        if cfg is None or data_dir is None:
            raise FlorenzError(f"eval: checkpoint {model_dir} is not inside a run directory (config.toml, result.json)")
        import torch

        from florenz.train.checkpoint import load_checkpoint
        from florenz.train.setup import build, load_tokenizer

        model, processor = build(cfg, load_tokenizer(cfg, data_dir), torch.device("cpu"))
        model.load_state_dict(load_checkpoint(model_dir)["model"])
        return model.eval(), processor
    loaded = load_model(model_dir)
    model, processor = loaded if isinstance(loaded, tuple) else (loaded, loaded.processor)
    return model, processor


def heldout_samples(data_dir: Path, per_class: int) -> tuple[list[EvalSample], dict]:
    """Held-out samples (at most `per_class` per task/lang, 0 = all) with their images and scene."""
    taken: dict[str, int] = {}
    samples: list[EvalSample] = []
    for rec in read_records(data_dir, "heldout"):
        image = None
        for i, s in enumerate(rec.samples):
            if not s.tgt.strip() or (s.task == "translation" and not s.src.strip()):  # a score against "" is no score
                what = "reference" if not s.tgt.strip() else "translation source"
                raise FlorenzError(f"{rec.where}, sample {i} ({s.klass}): empty {what} text in the held-out split")
            if per_class and taken.get(s.klass, 0) >= per_class:
                continue
            image = image or decode_image(rec)
            taken[s.klass] = taken.get(s.klass, 0) + 1
            samples.append(EvalSample(s.task, s.lang, s.tgt, s.src, s.style, image,
                                      {"id": rec.key, "scene": rec.meta.get("scene")}))
    if not samples:
        raise FlorenzError(f"{data_dir}: the held-out split has no samples")
    return samples, taken


def _generation_items(samples: list[EvalSample], per_lang: int) -> dict[str, list[EvalSample]]:
    """One caption sample per held-out image and language (references: all its captions there)."""
    by_lang: dict[str, dict[str, EvalSample]] = {}
    refs: dict[tuple[str, str], list[str]] = {}
    for s in samples:
        if s.task != "caption":
            continue
        key = (s.lang, s.meta["id"])
        refs.setdefault(key, []).append(s.tgt)
        items = by_lang.setdefault(s.lang, {})
        if s.meta["id"] not in items and (not per_lang or len(items) < per_lang):
            items[s.meta["id"]] = s
    out = {}
    for lang, items in sorted(by_lang.items()):
        out[lang] = [EvalSample(s.task, s.lang, s.tgt, s.src, "short", s.image,
                                {**s.meta, "refs": refs[(lang, s.meta["id"])]}) for s in items.values()]
    return out


def shuffled_images(items: list[EvalSample], seed: int = 0) -> list[EvalSample]:
    """The image-shuffled control: each item shown another item's image (a random cyclic derangement, so no
    item keeps its own), everything else - prompt, language, the scene it is scored against - unchanged.
    Attribute accuracy against the original scenes then measures what an image-blind captioner would get."""
    n = len(items)
    if n < 2:
        return list(items)
    order = np.random.default_rng(seed).permutation(n)
    source = np.empty(n, dtype=np.int64)
    source[order] = order[(np.arange(n) + 1) % n]
    return [EvalSample(s.task, s.lang, s.tgt, s.src, s.style, items[int(j)].image, s.meta)
            for s, j in zip(items, source, strict=True)]


def score_generation(items: list[EvalSample], texts: list[str], lang: str, ecfg: EvalConfig) -> dict:
    """Per-language metrics of one generation mode."""
    res: dict = {"n": len(items)}
    scenes = [s.meta.get("scene") for s in items]
    if all(sc is not None for sc in scenes):
        from florenz.evaluate.metrics.attributes import attribute_accuracy, world_fidelity

        res["attribute_accuracy"] = attribute_accuracy(texts, scenes, lang)
        res["fidelity"] = world_fidelity(texts, lang)
        res["fidelity_signature"] = "florenz.world.parse.in_language"
    else:
        from florenz.evaluate.metrics.fidelity import fidelity

        res["fidelity"], res["fidelity_signature"] = fidelity(texts, lang)
    refs = [s.meta["refs"] for s in items]
    for metric in ("bleu", "chrf", "cider"):
        if metric == "cider" and len(items) < 2:
            continue  # idf over one image is 0 by definition
        r = score_texts(metric, texts, refs, lang, ecfg.segmenter)
        res[metric], res[f"{metric}_signature"] = r.score, r.signature
    if "clipscore" in ecfg.optional_metrics:
        from florenz.evaluate.metrics.optional import clip_unavailable, clipscore

        msg = clip_unavailable(ecfg.clip_checkpoint)
        if msg:
            console.print(msg)
            res["clipscore"], res["clipscore_note"] = None, msg
        else:
            res["clipscore"], res["clipscore_signature"] = clipscore(
                [s.image for s in items], texts, ecfg.clip_checkpoint, ecfg.clip_model)
    return res


def _mean(values: list) -> float | None:
    vals = [v for v in values if isinstance(v, int | float) and not np.isnan(v)]
    return float(np.mean(vals)) if vals else None


def run_eval(target: str | Path, out: str | Path | None = None, data: str | Path | None = None,
             overrides: list[str] | None = None) -> dict:
    model_dir, run_dir = resolve_target(target)
    cfg: Config = load_config(run_dir / "config.toml" if run_dir else None, overrides)
    # default: the run directory for its model/; a checkpoint's scores go beside it (the run's scores.json
    # describes model/, and fit/report read it)
    default = run_dir if run_dir is not None and model_dir == run_dir / "model" else model_dir
    out_dir = check_dir_path(Path(out) if out else default)
    # scores.json in a run directory must describe its model/: not while a training process rewrites it
    owns_run = run_dir is not None and out_dir.resolve() == run_dir.resolve()
    with dir_lock(run_dir, what="run directory") if owns_run else contextlib.nullcontext():
        return _evaluate(model_dir, run_dir, out_dir, cfg, data)


def _evaluate(model_dir: Path, run_dir: Path | None, out_dir: Path, cfg: Config, data: str | Path | None) -> dict:
    ecfg = cfg.eval
    if ecfg.benchmarks:
        check_benchmarks(ecfg)
    data_dir = _data_dir(data, run_dir, cfg)
    model, processor = load_for_eval(model_dir, cfg, data_dir)
    scores: dict = {"model": str(model_dir), "data": str(data_dir) if data_dir else None, "eval": vars(ecfg).copy()}
    summary: dict = {}
    if data_dir is not None:
        stats = read_stats(data_dir)
        samples, _ = heldout_samples(data_dir, ecfg.ce_samples_per_class)
        console.print(f"eval: {len(samples)} held-out samples from {data_dir}")
        ce = sample_ce(model, processor, samples, ecfg.batch_size)
        per_class, counts = ce_per_class(samples, ce)
        groups = group_languages(stats)
        scores.update(ce=per_class, ce_counts=counts, groups=ce_groups(per_class, counts, stats),
                      group_classes=groups)
        scores["generation"] = {}
        gen_items = _generation_items(samples, ecfg.generation_samples)
        modes = [("prefix", True, False), ("no_prefix", False, False)]
        if ecfg.shuffled_control:  # the same generation with every image swapped for another held-out one
            modes += [("prefix_shuffled", True, True), ("no_prefix_shuffled", False, True)]
        for mode, with_prefix, shuffled in modes:
            rows, per_lang = [], {}
            for lang, items in gen_items.items():
                shown = shuffled_images(items, seed=ecfg.shuffle_seed) if shuffled else items
                gens = generate_texts(model, processor, shown, with_prefix, ecfg.beams, ecfg.max_new_tokens,
                                      ecfg.batch_size, desc=f"generate {lang} ({mode})")
                texts = [g["text"] for g in gens]
                per_lang[lang] = score_generation(items, texts, lang, ecfg)
                rows += [{"id": s.meta["id"], "lang": lang, "mode": mode, "text": g["text"], "raw": g["raw"],
                          "refs": s.meta["refs"]} for s, g in zip(items, gens, strict=True)]
            scores["generation"][mode] = per_lang
            write_jsonl(out_dir / "outputs" / f"generation_{mode}.jsonl", rows)
            for group in ("UC", "SC"):  # SC: the seen-captioning baseline the UC numbers are read against
                langs = [c.split("/")[1] for c in groups[group]]
                for metric in ("attribute_accuracy", "fidelity", "cider", "bleu"):
                    summary[f"{group.lower()}_{metric}_{mode}"] = _mean([per_lang.get(lg, {}).get(metric)
                                                                         for lg in langs])
        summary.update({f"ce_{k}": v for k, v in scores["groups"].items()})
    if ecfg.benchmarks:
        scores["benchmarks"] = run_benchmarks(model, processor, ecfg, out_dir)
        summary.update(scores["benchmarks"].get("summary", {}))
    scores["summary"] = summary
    write_json(out_dir / "scores.json", scores)
    console.print(f"eval: wrote {out_dir / 'scores.json'}")
    return scores


def _data_dir(data: str | Path | None, run_dir: Path | None, cfg: Config) -> Path | None:
    if data:
        return Path(data)
    if run_dir and (run_dir / "result.json").is_file():
        recorded = read_json(run_dir / "result.json").get("data")
        if recorded:
            return Path(recorded)
    path = getattr(cfg.data, "path", "")
    return Path(path) if path else None
