"""The fairness–accuracy frontier: which configurations no other one beats on both axes."""
from __future__ import annotations

import numpy as np

__all__ = ["pareto_mask"]


def pareto_mask(accuracy: np.ndarray, unfairness: np.ndarray) -> np.ndarray:
    """True for points not dominated by another (higher-or-equal accuracy and lower-or-equal
    unfairness, strictly better in one). NaN points are never on the front."""
    acc = np.asarray(accuracy, dtype=float)
    unf = np.asarray(unfairness, dtype=float)
    ok = ~(np.isnan(acc) | np.isnan(unf))
    mask = np.zeros(len(acc), dtype=bool)
    idx = np.flatnonzero(ok)
    # sweep by accuracy (descending), keeping the running minimum unfairness
    order = idx[np.lexsort((unf[idx], -acc[idx]))]
    best = np.inf
    for i in order:
        if unf[i] < best:
            mask[i] = True
            best = unf[i]
    # equal points: every copy of a front point is on the front
    for i in idx[~mask[idx]]:
        if np.any(mask & (acc == acc[i]) & (unf == unf[i])):
            mask[i] = True
    return mask
