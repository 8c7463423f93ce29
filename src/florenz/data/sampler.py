"""Task–language balanced sampling.

Each drawn sample first gets a (task, language) class from a target distribution (uniform over the
classes present unless weighted), then the next item of that class from a per-class shuffle that is
reshuffled every pass. Caption data for a few languages must not be drowned by translation data
for many (or the reverse), whatever the raw counts are.

The state is small and exact: the class RNG's state, plus a cursor per class (each class's
permutation is a function of (seed, class, pass), so it is recomputed rather than stored). Every
rank of a distributed run draws the same global batch and keeps its own slice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from florenz.errors import FlorenzError


def target_distribution(classes: list[str], weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Normalised target probabilities: listed classes get their weight, unlisted ones 1.0."""
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(classes))
    if unknown:
        raise FlorenzError(f"data.class_weights names classes not in the data: {', '.join(unknown)} "
                           f"(present: {', '.join(classes)})")
    raw = {c: float(weights.get(c, 1.0)) for c in classes}
    bad = [c for c, w in raw.items() if not w >= 0.0 or w == float("inf")]
    if bad:
        raise FlorenzError(f"data.class_weights must be finite and >= 0; bad: {', '.join(bad)}")
    total = sum(raw.values())
    if total <= 0:
        raise FlorenzError("data.class_weights gives every class weight 0")
    return {c: w / total for c, w in raw.items()}


class BalancedSampler:
    """Draws global item indices; `class_items[c]` lists the items (e.g. sample rows) of class c."""

    def __init__(self, class_items: Mapping[str, np.ndarray | list[int]], weights: Mapping[str, float] | None = None,
                 seed: int = 0) -> None:
        self.classes = sorted(c for c, items in class_items.items() if len(items) > 0)
        if not self.classes:
            raise FlorenzError("balanced sampler: no class has any samples")
        self.items = {c: np.asarray(class_items[c], dtype=np.int64) for c in self.classes}
        probs = target_distribution(self.classes, weights)
        self.probs = np.array([probs[c] for c in self.classes], dtype=np.float64)
        self.seed = seed
        self._rng = np.random.Generator(np.random.PCG64(_derive_seed(seed, "classes")))
        self._cursor = {c: 0 for c in self.classes}  # items of class c handed out so far (over all passes)
        self._perm_cache: dict[tuple[str, int], np.ndarray] = {}
        self.drawn = 0

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(class ids into self.classes, item indices) for the next n samples."""
        cls = self._rng.choice(len(self.classes), size=n, p=self.probs)
        items = np.empty(n, dtype=np.int64)
        for k in np.unique(cls):
            pos = np.nonzero(cls == k)[0]
            items[pos] = self._take(self.classes[k], len(pos))
        self.drawn += n
        return cls, items

    def _take(self, c: str, m: int) -> np.ndarray:
        size, start = len(self.items[c]), self._cursor[c]
        out = []
        while m > 0:
            epoch, off = divmod(start, size)
            k = min(m, size - off)
            out.append(self._perm(c, epoch)[off:off + k])
            start, m = start + k, m - k
        self._cursor[c] = start
        return self.items[c][np.concatenate(out)]

    def _perm(self, c: str, epoch: int) -> np.ndarray:
        key = (c, epoch)
        if key not in self._perm_cache:
            self._perm_cache = {k: v for k, v in self._perm_cache.items() if k[0] != c}  # one pass per class
            rng = np.random.Generator(np.random.PCG64(_derive_seed(self.seed, f"{c}#{epoch}")))
            self._perm_cache[key] = rng.permutation(len(self.items[c]))
        return self._perm_cache[key]

    def state_dict(self) -> dict:
        return {"seed": self.seed, "classes": list(self.classes), "rng": self._rng.bit_generator.state,
                "cursor": dict(self._cursor), "drawn": self.drawn}

    def load_state_dict(self, state: dict) -> None:
        if state["classes"] != self.classes or state["seed"] != self.seed:
            raise FlorenzError(f"checkpoint sampler was for classes {state['classes']} seed {state['seed']}, "
                               f"this run has {self.classes} seed {self.seed}")
        self._rng.bit_generator.state = state["rng"]
        self._cursor = {c: int(v) for c, v in state["cursor"].items()}
        self.drawn = int(state["drawn"])


def _derive_seed(seed: int, name: str) -> int:
    """A stable 64-bit seed per (run seed, stream name): independent streams, no Python hash()."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")
