"""CIDEr-D exactly as pycocoevalcap computes it, vectorised over sparse n-gram counts (no Java).

pycocoevalcap's `CiderScorer`: tf-idf vectors over 1..4-grams with idf = log(#images) - log(max(1, df))
where df counts the images whose *references* contain the n-gram; per order the clipped cosine
sum(min(h, r) * r) / (|h| |r|), a Gaussian length penalty exp(-d^2 / (2 sigma^2)); the mean over orders,
averaged over references, times 10. Its "length" is the entry at index 1 of the order loop, i.e. the
number of *bigrams*; we keep that quirk so the numbers match the reference implementation to 1e-9.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from florenz.errors import FlorenzError
from florenz.evaluate.metrics.ngrams import distinct, ngram_counts

CIDER_VERSION = "1"


def cider_d(
    hyps: Sequence[str], refs: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0
) -> tuple[float, np.ndarray]:
    """(corpus CIDEr-D, per-image scores) for space-tokenised hypotheses and their references."""
    _check(hyps, refs)
    n_img = len(hyps)
    nref = np.fromiter(map(len, refs), dtype=np.int64, count=len(refs))
    ref_img = np.repeat(np.arange(n_img), nref)
    ng = ngram_counts([*hyps, *itertools.chain.from_iterable(refs)], n)
    n_cols, order = ng.n_cols, ng.order
    is_hyp = ng.row < n_img
    h_key = ng.row[is_hyp] * n_cols + ng.col[is_hyp]  # sorted, as the triplets are
    h_cnt = ng.count[is_hyp]
    r_row, r_col, r_cnt = ng.row[~is_hyp] - n_img, ng.col[~is_hyp], ng.count[~is_hyp]

    # document frequency: number of images whose references contain the n-gram
    df = np.bincount(distinct(ref_img[r_row] * n_cols + r_col)[0] % n_cols, minlength=n_cols)
    idf = np.log(float(n_img)) - np.log(np.maximum(1.0, df))

    n_rows = n_img + len(ref_img)
    w = ng.count * idf[ng.col]  # tf-idf of every stored count
    norm = np.bincount(ng.row * n + order[ng.col], weights=w * w, minlength=n_rows * n)
    norm = np.sqrt(norm.astype(np.float64)).reshape(-1, n)
    hyp_norm, ref_norm = norm[:n_img], norm[n_img:]

    # clipped dot product sum_c min(h_c, r_c) * r_c * idf_c^2: each reference count meets its image's
    # hypothesis count for the same n-gram (0 where the hypothesis lacks it)
    q = ref_img[r_row] * n_cols + r_col
    h_at = np.zeros(len(q))
    if len(h_key):
        at = np.minimum(np.searchsorted(h_key, q), len(h_key) - 1)
        h_at = np.where(h_key[at] == q, h_cnt[at], 0.0)
    contrib = np.minimum(h_at, r_cnt) * r_cnt * idf[r_col] ** 2
    val = np.bincount(r_row * n + order[r_col], weights=contrib, minlength=len(ref_img) * n)
    val = val.astype(np.float64).reshape(-1, n)  # bincount of nothing is int
    denom = hyp_norm[ref_img] * ref_norm
    nz = denom != 0
    val[nz] = val[nz] / denom[nz]

    bigrams = lambda lengths: np.maximum(lengths - 1, 0)  # noqa: E731 - pycocoevalcap's "length"
    delta = (bigrams(ng.lengths[:n_img])[ref_img] - bigrams(ng.lengths[n_img:])).astype(np.float64)
    val *= np.e ** (-(delta**2) / (2 * sigma**2))[:, None]

    per_ref = val.mean(axis=1)
    scores = np.bincount(ref_img, weights=per_ref, minlength=n_img) / nref * 10.0
    return float(scores.mean()), scores


def _check(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> None:
    if len(hyps) != len(refs):
        raise FlorenzError(f"CIDEr: {len(hyps)} hypotheses but {len(refs)} reference sets")
    if not hyps:
        raise FlorenzError("CIDEr: nothing to score (no hypotheses)")
    if isinstance(refs[0], str) or min(map(len, refs)) == 0:
        first = next(i for i, r in enumerate(refs) if isinstance(r, str) or not r)
        raise FlorenzError(f"CIDEr: item {first} needs a non-empty list of references")


def cider_signature(nrefs: int | str, tok: str, n: int = 4, sigma: float = 6.0) -> str:
    return f"nrefs:{nrefs}|tok:{tok}|n:{n}|sigma:{sigma:g}|df:refs|clip:yes|version:cider-d-{CIDER_VERSION}"
