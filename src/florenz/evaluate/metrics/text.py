"""One entry point for every reference-based text metric: `score_texts(metric, hyps, refs, lang)`.

Shared by `florenz score` (no model) and `florenz eval`. Each result carries a sacrebleu-style
signature naming tokenisation, settings and version, because caption metrics in particular change
a lot under another tokenisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from florenz.errors import FlorenzError
from florenz.evaluate.metrics.bleu4 import bleu4_signature, coco_bleu
from florenz.evaluate.metrics.cider import cider_d, cider_signature
from florenz.evaluate.metrics.sacre import sacre_bleu, sacre_chrf
from florenz.evaluate.metrics.tokenize import tok_signature, tokenize_captions, tokenize_reference_sets

METRICS = ("cider", "bleu4", "bleu", "chrf")


@dataclass
class MetricResult:
    metric: str
    score: float
    signature: str

    def to_dict(self) -> dict:
        return {"metric": self.metric, "score": self.score, "signature": self.signature}


def _nrefs(refs: Sequence[Sequence[str]]) -> str:
    sizes = {len(r) for r in refs}
    return str(sizes.pop()) if len(sizes) == 1 else "var"


def score_texts(metric: str, hyps: Sequence[str], refs: Sequence[Sequence[str]], lang: str | None = None,
                segmenter: str = "default") -> MetricResult:
    """Corpus score on the usual scale: CIDEr x1 (as pycocoevalcap), BLEU-4 / BLEU / chrF x100."""
    if metric not in METRICS:
        raise FlorenzError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    if len(hyps) != len(refs):
        raise FlorenzError(f"{metric}: {len(hyps)} hypotheses but {len(refs)} reference sets")
    if not hyps:
        raise FlorenzError(f"{metric}: nothing to score")
    if metric == "bleu":
        return MetricResult(metric, *sacre_bleu(hyps, refs, lang))
    if metric == "chrf":
        return MetricResult(metric, *sacre_chrf(hyps, refs, lang))
    tok = tok_signature(lang, segmenter)
    h = tokenize_captions(hyps, lang, segmenter)
    r = tokenize_reference_sets(refs, lang, segmenter)
    if metric == "cider":
        return MetricResult(metric, cider_d(h, r)[0], cider_signature(_nrefs(refs), tok))
    return MetricResult(metric, 100.0 * coco_bleu(h, r)[3], bleu4_signature(_nrefs(refs), tok))
