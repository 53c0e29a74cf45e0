"""The fairness–accuracy frontier: which configurations no other one beats on both axes."""
from __future__ import annotations

import numpy as np

__all__ = ["pareto_mask", "hypervolume"]


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


def hypervolume(accuracy: np.ndarray, unfairness: np.ndarray, ref_accuracy: float, ref_unfairness: float) -> float:
    """The area that the points dominate inside the box between the reference point
    ``(ref_unfairness, ref_accuracy)`` (the worst corner) and perfect (unfairness 0, accuracy 1):
    higher is a better front. Points beyond the reference on either axis add nothing; NaN points
    are ignored."""
    acc = np.asarray(accuracy, dtype=float)
    unf = np.asarray(unfairness, dtype=float)
    keep = ~(np.isnan(acc) | np.isnan(unf)) & (acc > ref_accuracy) & (unf < ref_unfairness)
    acc, unf = acc[keep], unf[keep]
    if not len(acc):
        return 0.0
    # sweep by unfairness (ascending): each point adds the strip between it and the next point
    # that is fairer, up to its accuracy above the best accuracy seen so far
    order = np.lexsort((-acc, unf))
    area, best = 0.0, ref_accuracy
    xs = unf[order]
    for j, i in enumerate(order):
        if acc[i] > best:
            best = acc[i]
        nxt = xs[j + 1] if j + 1 < len(order) else ref_unfairness
        area += (nxt - xs[j]) * (best - ref_accuracy)
    return float(area)
