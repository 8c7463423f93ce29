"""Sparse n-gram count matrices for many sentences at once (shared by CIDEr-D and COCO BLEU-4).

Words get integer ids in one pass over the joined corpus; n-grams of order k are then numbered by
hashing `(id of the (k-1)-gram at i) * V + word at i+k-1` (pandas.factorize), so every step is an
array operation and ids never overflow whatever the vocabulary size.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

_SEP = "\x00\x01"  # sentence separator token: whitespace-free, never produced by a tokenizer


@dataclass
class NgramCounts:
    counts: sp.csr_matrix  # (sentences, ngrams) raw term counts, all orders side by side
    order: np.ndarray  # (ngrams,) order - 1 of each column (0 = unigram)
    lengths: np.ndarray  # (sentences,) number of words


def word_ids(sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(word ids of the whole corpus, words per sentence, vocabulary size)."""
    words = f" {_SEP} ".join(sentences).split()
    vocab = dict(zip(dict.fromkeys(words), itertools.count()))
    ids = np.fromiter(map(vocab.__getitem__, words), dtype=np.int64, count=len(words))
    sep = vocab.get(_SEP, -1)
    is_sep = ids == sep
    bounds = np.flatnonzero(is_sep)
    lengths = np.diff(np.concatenate([[-1], bounds, [len(ids)]])) - 1 if len(sentences) else np.zeros(0, np.int64)
    return ids[~is_sep], lengths.astype(np.int64), len(vocab)


def ngram_counts(sentences: Sequence[str], n: int = 4) -> NgramCounts:
    """Count the 1..n-grams of whitespace-split sentences into one sparse matrix."""
    tok, lengths, v_words = word_ids(sentences)
    sent = np.repeat(np.arange(len(sentences), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    remaining = np.repeat(lengths + starts, lengths) - np.arange(len(tok), dtype=np.int64)  # words left incl. this
    rows, cols, orders = [], [], []
    offset = 0
    gram = tok  # id of the k-gram starting at each position (meaningful where remaining >= k)
    n_uniq = v_words
    for k in range(1, n + 1):
        valid = remaining >= k
        if k > 1:
            at = np.flatnonzero(valid)
            codes, uniq = pd.factorize(gram[at] * v_words + tok[at + k - 1])
            gram = np.zeros_like(tok)
            gram[at] = codes
            n_uniq = len(uniq)
            rows.append(sent[at])
            cols.append(codes + offset)
        else:
            rows.append(sent)
            cols.append(tok)
        orders.append(np.full(n_uniq, k - 1, dtype=np.int64))
        offset += n_uniq
    r, c = np.concatenate(rows), np.concatenate(cols)
    mat = sp.csr_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(len(sentences), offset))
    mat.sum_duplicates()
    return NgramCounts(mat, np.concatenate(orders), lengths)


def order_onehot(order: np.ndarray, n: int) -> sp.csr_matrix:
    """(ngrams, n) indicator so that `X @ onehot` sums a row's values per n-gram order."""
    return sp.csr_matrix((np.ones(len(order)), (np.arange(len(order)), order)), shape=(len(order), n))
