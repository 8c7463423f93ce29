"""Pareto frontier of (compute, loss): the runs no cheaper run beats.

The paper fits its compute law only on these points, because off-frontier runs used compute
badly (wrong size for the budget) and would bias the slope.
"""

from __future__ import annotations

import numpy as np


def pareto_mask(compute, loss) -> np.ndarray:
    """True where no other point has compute <= and loss < (ties in compute keep the lowest loss)."""
    c, y = np.asarray(compute, float), np.asarray(loss, float)
    mask = np.zeros(len(c), dtype=bool)
    order = np.lexsort((y, c))  # by compute, then loss
    best = np.inf
    for i in order:
        if np.isfinite(y[i]) and np.isfinite(c[i]) and y[i] < best:
            mask[i] = True
            best = y[i]
    return mask
