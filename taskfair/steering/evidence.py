"""A run's paired evidence: every stored point of every seed as a :class:`~taskfair.metrics.
inference.PointSet` (its metrics at the estimate and under the seed's shared resamples), keyed by
``(family, target, λ)``, and which of those points are degenerate. Findings, the Frontier's front
membership and the search read their intervals from here."""
from __future__ import annotations

from typing import Hashable

import numpy as np

from ..metrics.health import degenerate_points
from ..metrics.inference import N_BOOT, PointSet, point_set, resample_counts
from ..store.results import RunResults

__all__ = ["point_key", "point_sets", "degenerate_keys"]


def point_key(family: str, target: str = "", lam: float | None = None) -> tuple[str, str, float | None]:
    """The key of a stored point: λ rounded (None where it does not apply)."""
    lam = None if lam is None or not np.isfinite(float(lam)) else round(float(lam), 6)
    return str(family), "" if target is None else str(target), lam


def point_sets(results: RunResults, *, split: str = "test", n_boot: int = N_BOOT,
               families: tuple[str, ...] | None = None,
               extra: dict[int, dict[Hashable, np.ndarray]] | None = None,
               seeds: tuple[int, ...] | None = None) -> dict[int, PointSet]:
    """Per seed, every distinct stored point (of ``families``, default all) on ``split`` under
    one set of resamples shared by all of them; ``extra`` adds points evaluated elsewhere (seed ->
    key -> margins on ``split``, e.g. a search candidate run exactly) under the same resamples;
    ``seeds``: only these."""
    out = {}
    for seed, sr in results.seeds.items():
        if seeds is not None and int(seed) not in seeds:
            continue
        keys: list[Hashable] = []
        rows = []
        seen = set()
        for k, margins in ((extra or {}).get(seed) or {}).items():
            keys.append(k)
            rows.append(np.asarray(margins))
            seen.add(k)
        for points, arrays in sr.files.values():
            for i, (f, t, lam) in enumerate(zip(points.family, points.target, points.lam)):
                k = point_key(f, t, lam)
                if (families is None or f in families) and k not in seen:
                    seen.add(k)
                    keys.append(k)
                    rows.append(arrays[split][i])
        if not rows:
            continue
        labels, masks = sr.labels[split], sr.masks[split]
        counts = resample_counts(len(labels), seed=seed, split=split, n_boot=n_boot)
        out[int(seed)] = point_set(np.stack(rows) > 0, labels, masks, results.groups, keys=keys,
                                   seed=seed, split=split, counts=counts)
    return out


def degenerate_keys(results: RunResults) -> dict[tuple[int, tuple], str]:
    """``(seed, point key) -> reason`` for every degenerate stored point."""
    bad = degenerate_points(results.metrics)
    return {(int(s), point_key(f, t, lam)): r for s, f, t, lam, r in zip(bad.seed, bad.family, bad.target,
                                                                          bad.lam, bad.reason)}
