"""The fine-tuning mixture: Multi30K task 1 (translation) + task 2 (captions), COCO Karpathy captions,
and machine translations (through the translator backend) for the languages without human data.

Human data covers captions in en/de (Multi30K task 2, COCO) and translations en->de/fr/cs (task 1).
Every other requested language gets, per image, MT captions (caption/X) and the matching
translation pairs (translation/X, source = the English caption); fr/cs get MT captions only.
Train splits go to `train`, validation splits to `heldout`; Karpathy `test` (the benchmark) is never used.
Images are read from the user's folders; a missing or corrupt image skips its record and is counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from florenz.clitools import console
from florenz.data.benchmarks.coco import load_karpathy
from florenz.data.benchmarks.multi30k import load_multi30k, load_multi30k_captions
from florenz.data.pipeline.backends import Translator
from florenz.data.shards import Record, Sample, ShardWriter, write_stats
from florenz.errors import FlorenzError
from florenz.languages import check_languages

HUMAN_CAPTION_LANGS = ("en", "de")
HUMAN_TRANSLATION_LANGS = ("de", "fr", "cs")
SPLITS = {"train": {"task1": "train", "task2": "train", "karpathy": ("train", "restval")},
          "heldout": {"task1": "val", "task2": "val", "karpathy": ("val",)}}


@dataclass
class MixtureSettings:
    languages: list[str] = field(default_factory=lambda: ["en", "de", "fr", "cs"])
    multi30k: str = ""  # root of the multi30k/dataset layout (task1/, task2/)
    multi30k_images: str = ""  # folder of the Flickr30k images named in image_splits
    karpathy: str = ""  # dataset_coco.json
    coco_images: str = ""  # root under which <filepath>/<filename> exist
    max_images: int = 0  # per source and split (0 = all): for smoke runs
    mt_per_image: int = 1  # English captions per image machine-translated into each remaining language
    translate_context: bool = True
    max_text_chars: int = 400
    seed: int = 0
    shard_size: int = 2000

    def validate(self) -> None:
        check_languages(self.languages, "mixture languages")
        if "en" not in self.languages:
            raise FlorenzError("mixture languages must include 'en'")
        if not self.multi30k and not self.karpathy:
            raise FlorenzError("data mixture: give --multi30k and/or --karpathy")
        if self.multi30k and not Path(self.multi30k_images or "").is_dir():
            raise FlorenzError(f"Multi30K image folder not found: {self.multi30k_images!r} (--multi30k-images)")


@dataclass
class _Item:
    key: str
    image: Path
    source: str
    samples: list[Sample] = field(default_factory=list)
    english: list[str] = field(default_factory=list)  # captions usable as MT sources


def _limit(items: list, n: int) -> list:
    return items[:n] if n > 0 else items


def _multi30k_items(s: MixtureSettings, split: str) -> dict[str, _Item]:
    out: dict[str, _Item] = {}
    img_dir = Path(s.multi30k_images)

    def item(name: str) -> _Item:
        if name not in out:
            out[name] = _Item("m30k_" + Path(name).stem.replace(".", "_"), img_dir / name, "multi30k")
        return out[name]

    t1 = SPLITS[split]["task1"]
    for tgt in (lang for lang in HUMAN_TRANSLATION_LANGS if lang in s.languages):
        for it in _limit(load_multi30k(s.multi30k, t1, "en", tgt, text_only=True), s.max_images):
            rec = item(it.extra["image_name"])
            rec.samples.append(Sample("translation", tgt, it.refs[0], src=it.src, style="short"))
            if it.src not in rec.english:
                rec.english.append(it.src)
    for lang in (lang for lang in HUMAN_CAPTION_LANGS if lang in s.languages):
        for it in _limit(load_multi30k_captions(s.multi30k, SPLITS[split]["task2"], lang, text_only=True),
                         s.max_images):
            rec = item(it.extra["image_name"])
            rec.samples += [Sample("caption", lang, r, style="short") for r in it.refs]
            if lang == "en":
                rec.english += [r for r in it.refs if r not in rec.english]
    return out


def _karpathy_items(s: MixtureSettings, split: str) -> dict[str, _Item]:
    out: dict[str, _Item] = {}
    for ksplit in SPLITS[split]["karpathy"]:
        try:
            items = load_karpathy(s.karpathy, ksplit, image_root=s.coco_images or None)
        except FlorenzError as e:
            if "no images in split" in str(e):
                continue
            raise
        for it in _limit(items, s.max_images):
            rec = _Item(f"coco_{it.id}", Path(it.image), "coco")
            rec.samples = [Sample("caption", "en", r, style="short") for r in it.refs]
            rec.english = list(it.refs)
            out[rec.key] = rec
    return out


def _add_machine_translations(items: list[_Item], s: MixtureSettings, translator: Translator) -> None:
    """MT captions for languages without human captions; MT pairs for those without human bitext."""
    cap_langs = [lang for lang in s.languages if lang not in HUMAN_CAPTION_LANGS]
    src = [(it, e) for it in items for e in it.english[: s.mt_per_image]]
    if not src or not cap_langs:
        return
    texts = [e for _, e in src]
    ctx = [" ".join(x for x in it.english if x != e) for it, e in src] if s.translate_context else None
    for lang in cap_langs:
        with console.status(f"translating {len(texts)} captions into {lang}"):
            out = [t for j in range(0, len(texts), 32)
                   for t in translator.translate(texts[j:j + 32], lang, ctx[j:j + 32] if ctx else None)]
        for (it, e), t in zip(src, out, strict=True):
            it.samples.append(Sample("caption", lang, t, style="short"))
            if lang not in HUMAN_TRANSLATION_LANGS:
                it.samples.append(Sample("translation", lang, t, src=e, style="short"))


def _keep(sample: Sample, max_chars: int, skipped: Counter) -> bool:
    for text in (sample.tgt, sample.src if sample.task == "translation" else "x"):
        if not text.strip():
            skipped["empty_text"] += 1
            return False
        if len(text) > max_chars:
            skipped["long_text"] += 1
            return False
    return True


def build_mixture(out: str | Path, s: MixtureSettings, translator: Translator | None) -> dict:
    """Write train/heldout shards + stats.json of the fine-tuning mixture into `out`."""
    from PIL import Image

    s.validate()
    out = Path(out)
    split_counts: dict[str, Counter] = {}
    skipped: Counter[str] = Counter()
    records: dict[str, int] = {}
    for split in ("train", "heldout"):
        items = {}
        if s.multi30k:
            items.update(_multi30k_items(s, split))
        if s.karpathy:
            items.update(_karpathy_items(s, split))
        good = []
        for it in items.values():
            if not it.image.is_file():
                skipped["missing_image"] += 1
                continue
            try:
                with Image.open(it.image) as im:
                    im.convert("RGB")
            except (OSError, ValueError):
                skipped["corrupt_image"] += 1
                continue
            good.append(it)
        for it in good:  # filter before MT so bad captions are neither translated nor counted twice
            it.english = [e for e in it.english if e.strip() and len(e) <= s.max_text_chars]
        if translator is not None:
            _add_machine_translations(good, s, translator)
        elif any(lang not in HUMAN_CAPTION_LANGS for lang in s.languages):
            raise FlorenzError("data mixture: languages beyond en/de need --translator")
        with ShardWriter(out, split, shard_size=s.shard_size) as w:
            for it in good:
                samples = [x.to_dict() for x in it.samples if _keep(x, s.max_text_chars, skipped)]
                if not samples:
                    skipped["no_samples"] += 1
                    continue
                data = it.image.read_bytes()
                ext = "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "jpg"
                w.write(Record(it.key, data, ext, {"id": it.key, "samples": samples, "source": it.source,
                                                   "image_name": it.image.name}))
        split_counts[split], records[split] = w.counts, w.records
    stats = write_stats(out, split_counts, seed=s.seed, settings=s.__dict__, records=records,
                        skipped=dict(sorted(skipped.items())), kind="finetune-mixture")
    return {"out": str(out), "stats": stats}

