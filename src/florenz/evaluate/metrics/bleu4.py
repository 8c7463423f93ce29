"""COCO-caption BLEU-1..4 exactly as pycocoevalcap's `Bleu(4)` ("closest" reference length, its
1e-9 / 1e-15 smoothing constants), vectorised on the shared sparse n-gram counts."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from florenz.evaluate.metrics.cider import _check
from florenz.evaluate.metrics.ngrams import ngram_counts

BLEU4_VERSION = "1"


def coco_bleu(hyps: Sequence[str], refs: Sequence[Sequence[str]], n: int = 4) -> list[float]:
    """Corpus BLEU-1..n (fractions in [0, 1]) for space-tokenised hypotheses and references."""
    _check(hyps, refs)
    n_img = len(hyps)
    nref = np.fromiter(map(len, refs), dtype=np.int64, count=len(refs))
    ref_img = np.repeat(np.arange(n_img), nref)
    ng = ngram_counts(list(hyps) + [r for rs in refs for r in rs], n)
    n_cols = ng.n_cols
    is_hyp = ng.row < n_img
    h_row, h_col, h_cnt = ng.row[is_hyp], ng.col[is_hyp], ng.count[is_hyp]
    r_row, r_col, r_cnt = ng.row[~is_hyp] - n_img, ng.col[~is_hyp], ng.count[~is_hyp]

    # max count of each n-gram over one image's references, looked up for the hypothesis' n-grams
    ref_keys = ref_img[r_row] * n_cols + r_col
    uniq, inv = np.unique(ref_keys, return_inverse=True)
    max_ref = np.zeros(len(uniq))
    np.maximum.at(max_ref, inv, r_cnt)
    hyp_keys = h_row * n_cols + h_col
    if len(uniq):
        at = np.minimum(np.searchsorted(uniq, hyp_keys), len(uniq) - 1)
        clip = np.where(uniq[at] == hyp_keys, np.minimum(h_cnt, max_ref[at]), 0.0)
    else:
        clip = np.zeros(len(hyp_keys))
    correct = np.bincount(ng.order[h_col], weights=clip, minlength=n)[:n].astype(np.float64)

    test_len = ng.lengths[:n_img]
    guess = np.array([np.maximum(test_len - k, 0).sum() for k in range(n)], dtype=np.float64)
    # "closest" reference length, ties to the shorter one (min over (|l - testlen|, l))
    ref_len = ng.lengths[n_img:]
    dist = np.abs(ref_len - test_len[ref_img])
    key = dist * (ref_len.max(initial=0) + 1) + ref_len
    best = np.full(n_img, np.iinfo(np.int64).max)
    np.minimum.at(best, ref_img, key)
    closest = best % (ref_len.max(initial=0) + 1)

    tiny, small = 1e-15, 1e-9
    total_test, total_ref = float(test_len.sum()), float(closest.sum())
    bleus, bleu = [], 1.0
    for k in range(n):
        bleu *= float(correct[k] + tiny) / (guess[k] + small)
        bleus.append(bleu ** (1.0 / (k + 1)))
    ratio = (total_test + tiny) / (total_ref + small)
    if ratio < 1:
        bleus = [b * math.exp(1 - 1 / ratio) for b in bleus]
    return bleus


def bleu4_signature(nrefs: int | str, tok: str) -> str:
    return f"nrefs:{nrefs}|tok:{tok}|n:4|eff:closest|smooth:coco|version:coco-bleu-{BLEU4_VERSION}"
