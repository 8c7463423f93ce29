"""Nearest bitext sentences for each image: cosine similarity, top-N (steps 5 and 6 of the method).

The bitext side can be far larger than memory allows as one matrix (CCMatrix has hundreds of
millions of English sentences), so keys are scanned in blocks (e.g. a memory-mapped .npy) and a
running top-k is merged per block. FAISS (exact inner product) is used when installed and asked for.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

from florenz.errors import FlorenzError


def faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def topk_cosine(queries: torch.Tensor, keys: np.ndarray | torch.Tensor, k: int, block_size: int = 65536,
                backend: str = "torch") -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, indices) of the k most similar keys per query, best first; inputs L2-normalised.

    Ties break towards the lower key index so results do not depend on the block size.
    """
    if backend not in ("torch", "faiss", "auto"):
        raise FlorenzError(f"unknown nearest-neighbour backend {backend!r} (known: torch, faiss, auto)")
    n_keys = int(keys.shape[0])
    k = min(k, n_keys)
    if k <= 0 or queries.shape[0] == 0:
        return torch.zeros(queries.shape[0], 0), torch.zeros(queries.shape[0], 0, dtype=torch.long)
    if backend == "faiss" or (backend == "auto" and faiss_available()):
        return _faiss_topk(queries, keys, k, block_size)
    q = queries.float()
    best_s = torch.full((q.shape[0], 0), float("-inf"))
    best_i = torch.zeros((q.shape[0], 0), dtype=torch.long)
    for start in range(0, n_keys, block_size):
        block = keys[start:start + block_size]
        block = block if isinstance(block, torch.Tensor) else torch.from_numpy(np.array(block, dtype=np.float32))
        s = q @ block.float().T
        idx = torch.arange(start, start + block.shape[0]).expand(q.shape[0], -1)
        cat_s, cat_i = torch.cat([best_s, s], dim=1), torch.cat([best_i, idx], dim=1)
        best_s, best_i = _stable_topk(cat_s, cat_i, k)
    return best_s, best_i


def _stable_topk(scores: torch.Tensor, idx: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k by score, then by lower index: sort by index first, then a stable sort by score."""
    order = torch.argsort(idx, dim=1)
    scores, idx = scores.gather(1, order), idx.gather(1, order)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)[:, :k]
    return scores.gather(1, order), idx.gather(1, order)


def _faiss_topk(queries: torch.Tensor, keys: np.ndarray | torch.Tensor, k: int,
                block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        import faiss
    except ImportError:
        raise FlorenzError("nearest-neighbour backend 'faiss' needs faiss (pip install faiss-cpu)") from None
    index = faiss.IndexFlatIP(int(keys.shape[1]))
    for start in range(0, int(keys.shape[0]), block_size):
        index.add(np.ascontiguousarray(np.asarray(keys[start:start + block_size], dtype=np.float32)))
    s, i = index.search(np.ascontiguousarray(queries.float().numpy()), k)
    return torch.from_numpy(s), torch.from_numpy(i).long()
