"""Benchmarks inside `florenz eval`: Multi30K translation (BLEU/chrF + held-out-style CE) and
CoMMuTE contrastive accuracy, from the official files under `eval.benchmark_root`.

Text-only evaluation (`eval.text_only=true`, or images absent) feeds a blank image and records
`"text_only": true` beside the numbers, because they are not comparable with image-grounded ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from florenz.clitools import console
from florenz.data.benchmarks.commute import load_commute
from florenz.data.benchmarks.multi30k import PAPER_MAIN_SPLITS, load_multi30k
from florenz.errors import FlorenzError
from florenz.evaluate.commute import score_commute
from florenz.evaluate.config import EvalConfig
from florenz.evaluate.generation import generate_texts
from florenz.evaluate.loss import EvalSample, sample_ce
from florenz.evaluate.metrics.text import score_texts
from florenz.io import write_jsonl

KNOWN = ("multi30k", "commute", "xm3600", "coco")


def _open(path: Path | None):
    if path is None:
        return None
    from PIL import Image

    return Image.open(path).convert("RGB")


def _root(ecfg: EvalConfig, name: str) -> Path:
    if not ecfg.benchmark_root:
        raise FlorenzError("eval.benchmarks is set but eval.benchmark_root is empty (the folder with the files)")
    root = Path(ecfg.benchmark_root)
    return root / name if (root / name).is_dir() else root


def run_multi30k(model, processor, ecfg: EvalConfig, out_dir: Path) -> dict:
    res: dict = {"text_only": ecfg.text_only, "splits": {}}
    for split in ecfg.multi30k_splits:
        for lang in ecfg.multi30k_langs:
            try:
                items = load_multi30k(_root(ecfg, "multi30k"), split, "en", lang, text_only=ecfg.text_only)
            except FlorenzError as e:
                if f"{split}.{lang}" in str(e):  # e.g. no Czech for the 2017 test sets
                    continue
                raise
            if ecfg.benchmark_samples:
                items = items[: ecfg.benchmark_samples]
            samples = [EvalSample("translation", lang, it.refs[0], it.src, image=_open(it.image),
                                  meta={"id": it.id}) for it in items]
            ce = sample_ce(model, processor, samples, ecfg.batch_size, desc=f"CE multi30k {split} {lang}")
            gens = generate_texts(model, processor, samples, False, ecfg.beams, ecfg.max_new_tokens,
                                  ecfg.batch_size, desc=f"translate {split} {lang}")
            hyps, refs = [g["text"] for g in gens], [it.refs for it in items]
            entry = {"n": len(items), "ce": float(np.mean(ce))}
            for metric in ("bleu", "chrf"):
                r = score_texts(metric, hyps, refs, lang)
                entry[metric], entry[f"{metric}_signature"] = r.score, r.signature
            if "comet" in ecfg.optional_metrics:
                entry.update(_comet([it.src for it in items], hyps, [it.refs[0] for it in items], ecfg))
            res["splits"][f"{split}/{lang}"] = entry
            rows = [{"id": it.id, "src": it.src, "text": h, "refs": it.refs} for it, h in zip(items, hyps, strict=True)]
            write_jsonl(out_dir / "outputs" / f"multi30k_{split}_{lang}.jsonl", rows)
    for lang in ecfg.multi30k_langs:
        main = [res["splits"][f"{s}/{lang}"]["bleu"] for s in PAPER_MAIN_SPLITS if f"{s}/{lang}" in res["splits"]]
        if main:
            res[f"bleu_main_{lang}"] = float(np.mean(main))  # the paper's figure: mean of 2016, 2017, mscoco
    return res


def _comet(srcs: list[str], hyps: list[str], refs: list[str], ecfg: EvalConfig) -> dict:
    from florenz.evaluate.metrics.optional import comet, comet_unavailable

    msg = comet_unavailable(ecfg.comet_model)
    if msg:
        console.print(msg)
        return {"comet": None, "comet_note": msg}
    score, sig = comet(srcs, hyps, refs, ecfg.comet_model)
    return {"comet": score, "comet_signature": sig}


def run_commute(model, processor, ecfg: EvalConfig, out_dir: Path) -> dict:
    res: dict = {"text_only": ecfg.text_only, "pairs": {}}
    for lang in ecfg.commute_langs:
        items = load_commute(_root(ecfg, "commute"), lang, text_only=ecfg.text_only)
        if ecfg.benchmark_samples:
            items = items[: ecfg.benchmark_samples]
        images = {str(it.image): it.image for it in items if it.image is not None}
        code = lang.split("_")[0]

        def ce_fn(triples, code=code, images=images):
            samples = [EvalSample("translation", code, text, src, image=_open(images.get(key)))
                       for key, src, text in triples]
            return sample_ce(model, processor, samples, ecfg.batch_size, desc=f"CoMMuTE en-{code}")

        scored = score_commute(items, ce_fn)
        write_jsonl(out_dir / "outputs" / f"commute_{lang}.jsonl", scored.pop("rows"))
        res["pairs"][lang] = scored
    accs = [v["accuracy"] for v in res["pairs"].values()]
    res["accuracy_mean"] = float(np.mean(accs)) if accs else None
    return res


def check_benchmarks(ecfg: EvalConfig) -> None:
    """Load every configured benchmark's files (cheap) so a missing file or image fails before model work."""
    unknown = [b for b in ecfg.benchmarks if b not in KNOWN]
    if unknown:
        raise FlorenzError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    if "commute" in ecfg.benchmarks:
        for lang in ecfg.commute_langs:
            load_commute(_root(ecfg, "commute"), lang, text_only=ecfg.text_only)


def run_captioning(model, processor, ecfg: EvalConfig, out_dir: Path, name: str) -> dict:
    """XM3600 (per language; the paper's "Unseen" = mean over fr, es, ru, zh) or COCO Karpathy test (en):
    caption generation with and without the decoder prefix, CIDEr / BLEU-4 / BLEU / chrF + fidelity."""
    from florenz.data.benchmarks.coco import load_karpathy
    from florenz.data.benchmarks.xm3600 import PAPER_UNSEEN, load_xm3600
    from florenz.evaluate.metrics.fidelity import fidelity

    res: dict = {"text_only": ecfg.text_only}
    for lang in (ecfg.xm3600_langs if name == "xm3600" else ["en"]):
        items = (load_xm3600(_root(ecfg, "xm3600"), lang, text_only=ecfg.text_only) if name == "xm3600"
                 else load_karpathy(_root(ecfg, "coco"), "test", text_only=ecfg.text_only))
        if ecfg.benchmark_samples:
            items = items[: ecfg.benchmark_samples]
        samples = [EvalSample("caption", lang, it.refs[0], image=_open(it.image), meta={"id": it.id}) for it in items]
        for mode, with_prefix in (("prefix", True), ("no_prefix", False)):
            gens = generate_texts(model, processor, samples, with_prefix, ecfg.beams, ecfg.max_new_tokens,
                                  ecfg.batch_size, desc=f"{name} {lang} ({mode})")
            hyps, refs = [g["text"] for g in gens], [it.refs for it in items]
            entry: dict = {"n": len(items)}
            for metric in ("cider", "bleu4", "bleu", "chrf"):
                r = score_texts(metric, hyps, refs, lang, ecfg.segmenter)
                entry[metric], entry[f"{metric}_signature"] = r.score, r.signature
            entry["fidelity"], entry["fidelity_signature"] = fidelity(hyps, lang)
            res.setdefault(mode, {})[lang] = entry
            rows = [{"id": it.id, "lang": lang, "text": h, "refs": it.refs} for it, h in zip(items, hyps, strict=True)]
            write_jsonl(out_dir / "outputs" / f"{name}_{mode}_{lang}.jsonl", rows)
    if name == "xm3600":
        for mode in ("prefix", "no_prefix"):
            unseen = [res[mode][lg]["cider"] for lg in PAPER_UNSEEN if lg in res.get(mode, {})]
            res[f"unseen_cider_{mode}"] = float(np.mean(unseen)) if len(unseen) == len(PAPER_UNSEEN) else None
    return res


def run_benchmarks(model, processor, ecfg: EvalConfig, out_dir: Path) -> dict:
    check_benchmarks(ecfg)
    out: dict = {"summary": {}}
    if "multi30k" in ecfg.benchmarks:
        m = out["multi30k"] = run_multi30k(model, processor, ecfg, out_dir)
        out["summary"].update({f"multi30k_{k}": v for k, v in m.items() if k.startswith("bleu_main_")})
    if "commute" in ecfg.benchmarks:
        c = out["commute"] = run_commute(model, processor, ecfg, out_dir)
        out["summary"]["commute_accuracy"] = c["accuracy_mean"]
    for name in ("xm3600", "coco"):
        if name in ecfg.benchmarks:
            r = out[name] = run_captioning(model, processor, ecfg, out_dir, name)
            out["summary"].update({f"{name}_{k}": v for k, v in r.items() if k.startswith("unseen_cider_")})
            if name == "coco":
                out["summary"]["coco_cider_prefix"] = r["prefix"]["en"]["cider"]
    if ecfg.text_only:
        console.print("eval: benchmarks scored text-only (a blank image was fed); not comparable with image runs")
    return out
