"""One position of the Remix sliders, everything the page shows about it, computed in one call.

A slider move used to ask five questions separately (the estimate on the split shown, the
estimate on the other split, whether it is a constant predictor, its expected error, whether it
extrapolates), each estimating the margins again and each building a table to read three numbers
from. :func:`remix_view` estimates each split's margins once and builds one table, for the split
shown; of the other split only the headline numbers are computed. The answers equal the separate
functions' (tests compare them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..metrics.fairness import ALL, group_rates, summary_metrics
from ..metrics.tables import HEADLINE_METRICS, seed_means, undefined
from ..store.results import RunResults
from .configurations import Variant, extrapolation
from .estimate import RemixEstimator, degenerate_of, expected_error, metrics_of

__all__ = ["RemixView", "remix_view", "estimated_headline", "estimate_vs_exact"]


@dataclass(frozen=True)
class RemixView:
    """The estimated ``θ0 + Σ λ_g τ_g`` at ``lams``.

    ``table``: per-group and overall metrics on ``split`` (:func:`~.estimate.remix_metrics`);
    ``headline``: split → headline metric → mean over seeds, for every split given;
    ``error``: the expected error per headline metric (0 at a stored point); ``degenerate``: why
    it is a constant predictor on ``split`` ("" when it is not); ``extrapolation``: why the
    estimate lies outside the stored points ("" when it does not); ``undefined``: why a value in
    ``table`` is undefined, one line each."""

    lams: tuple[float, ...]
    split: str
    table: pd.DataFrame
    headline: dict[str, dict[str, float]]
    error: dict[str, float]
    degenerate: str
    extrapolation: str
    undefined: tuple[str, ...]


def estimated_headline(estimators: Sequence[RemixEstimator], preds: Sequence[np.ndarray]) -> dict[str, float]:
    """The headline numbers of one estimated point, mean over seeds (seeds where a number is
    undefined left out; NaN when it is undefined in all): the ``(all)`` rows of
    :func:`~.estimate.metrics_of` without building its table."""
    per_seed = [summary_metrics(group_rates(p, e.labels, e.masks)) for e, p in zip(estimators, preds)]
    mean = seed_means(np.array([[s[m][0] for m in HEADLINE_METRICS] for s in per_seed], dtype=np.float64))[0]
    return {m: float(v) for m, v in zip(HEADLINE_METRICS, mean)}


def remix_view(results: RunResults, estimators: Mapping[str, Sequence[RemixEstimator]], lams: Sequence[float],
               split: str, *, n_boot: int = 0) -> RemixView:
    """Everything the Remix page shows at ``lams``; ``estimators``: split → one estimator per
    seed (``split`` among them); ``n_boot``: bootstrap resamples for ``table``'s intervals (0: none)."""
    if split not in estimators:
        raise ValueError(f"no estimators for the split {split!r} (have {sorted(estimators)})")
    lams = tuple(float(v) for v in lams)
    if len(lams) != len(results.groups):
        raise ValueError(f"{len(lams)} λ given for {len(results.groups)} subgroups ({', '.join(results.groups)}): "
                         "give one per subgroup, in that order")
    preds = {sp: [e.margins(lams) > 0 for e in ests] for sp, ests in estimators.items()}
    table = metrics_of(estimators[split], preds[split], n_boot=n_boot)
    headline = {split: {m: float(v) for g, m, v in zip(table["group"].tolist(), table["metric"].tolist(),
                                                        table["mean"].tolist()) if g == ALL and m in HEADLINE_METRICS}}
    for sp, ests in estimators.items():
        if sp != split:
            headline[sp] = estimated_headline(ests, preds[sp])
    return RemixView(
        lams=lams, split=split, table=table, headline=headline,
        error=expected_error(estimators[split], lams),
        degenerate=degenerate_of(estimators[split], preds[split]),
        extrapolation=extrapolation(results, Variant("remix", lams=lams)),
        undefined=tuple(undefined(table)))


def estimate_vs_exact(estimate: pd.DataFrame, exact: pd.DataFrame) -> pd.DataFrame:
    """The estimate of a remix beside its exact evaluation, per group and metric: ``group, metric,
    mean_estimate, mean_exact, abs_error``, the largest error first."""
    cmp = estimate[["group", "metric", "mean"]].merge(exact[["group", "metric", "mean"]],
                                                      on=["group", "metric"], suffixes=("_estimate", "_exact"))
    cmp["abs_error"] = (cmp["mean_estimate"] - cmp["mean_exact"]).abs()
    return cmp.sort_values("abs_error", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
