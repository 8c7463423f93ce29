"""CoMMuTE contrastive accuracy: does the image make the correct translation more likely?

An item counts as correct when the perplexity exp(token-mean CE) of the correct translation, given
image and source, is *lower* than that of the incorrect one; an exact tie counts one half. Every
ambiguous source appears once with each reading (correct/incorrect swapped), so a model that ignores
the image scores exactly 50.0. To keep that exact, each distinct (image, source, text) is scored once
and the value reused, so batching or padding noise can never break the symmetry.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from florenz.data.benchmarks.commute import CommuteItem
from florenz.errors import FlorenzError

# (image key, source, candidate translation) -> token-mean cross-entropy
Triple = tuple[str, str, str]
CeFn = Callable[[list[Triple]], Sequence[float]]


def item_outcome(ce_correct: float, ce_incorrect: float) -> float:
    """1 if the correct translation has the lower perplexity, 0.5 on a tie, else 0."""
    ppl_c, ppl_i = math.exp(ce_correct), math.exp(ce_incorrect)
    return 1.0 if ppl_c < ppl_i else 0.5 if ppl_c == ppl_i else 0.0


def commute_accuracy(ce_correct: Sequence[float], ce_incorrect: Sequence[float]) -> float:
    if len(ce_correct) != len(ce_incorrect) or not len(ce_correct):
        raise FlorenzError("CoMMuTE: need the same, non-zero number of correct and incorrect scores")
    return 100.0 * float(np.mean([item_outcome(c, i) for c, i in zip(ce_correct, ce_incorrect, strict=True)]))


def unbalanced_items(items: Sequence[CommuteItem]) -> list[str]:
    """Ids of items whose source's correct and incorrect readings do not pair up one-to-one.

    Only on a balanced set is an image-blind model guaranteed exactly 50.0; the upstream en-fr files have
    two such sources (a missing '!', a reading with an alternative), reported rather than silently fixed.
    """
    groups: dict[str, list[CommuteItem]] = {}
    for it in items:
        groups.setdefault(it.src, []).append(it)
    bad = []
    for group in groups.values():
        if Counter(it.correct for it in group) != Counter(it.incorrect for it in group):
            bad += [it.id for it in group]
    return bad


def image_key(item: CommuteItem) -> str:
    """Blank-image (text-only) items share one key: the model sees the same image for all of them."""
    return str(item.image) if item.image is not None else "<blank>"


def score_commute(items: Sequence[CommuteItem], ce_fn: CeFn) -> dict:
    """Accuracy plus per-item CE / outcome rows (written beside the score as raw outputs)."""
    triples = [(image_key(it), it.src, t) for it in items for t in (it.correct, it.incorrect)]
    unique = list(dict.fromkeys(triples))
    values = dict(zip(unique, (float(v) for v in ce_fn(unique)), strict=True))
    rows = []
    for it in items:
        c, w = values[(image_key(it), it.src, it.correct)], values[(image_key(it), it.src, it.incorrect)]
        rows.append({"id": it.id, "src": it.src, "correct": it.correct, "incorrect": it.incorrect,
                     "ce_correct": c, "ce_incorrect": w, "outcome": item_outcome(c, w)})
    acc = commute_accuracy([r["ce_correct"] for r in rows], [r["ce_incorrect"] for r in rows])
    return {"accuracy": acc, "items": len(rows), "unbalanced_items": len(unbalanced_items(items)),
            "text_only": all(it.image is None for it in items), "rows": rows}
