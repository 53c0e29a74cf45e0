"""Fairness metrics, vectorized over many λ points: per-subgroup accuracy, selection rate,
TPR/FPR, DPD and EOD (one subgroup against the rest), summaries, bootstrap intervals, Pareto
fronts, and the tidy per-point tables built from them.

- :mod:`.fairness` — :func:`group_rates`, :func:`fairness_table`, :func:`bootstrap_ci`
- :mod:`.frontier` — :func:`pareto_mask`
- :mod:`.inference` — :func:`point_set`, :func:`contrast`, :func:`combine`, :func:`holm`,
  :func:`front_membership`: paired bootstrap over examples, two-level across seeds
- :mod:`.health`   — :func:`mark_degenerate`, :func:`degenerate_points`: constant predictors flagged
- :mod:`.tables`   — :func:`rates_table`, :func:`rates_with_ci`, :func:`seed_mean`, :func:`with_intervals`
"""
from .fairness import (ALL, PER_GROUP_METRICS, GroupRates, aggregate_seeds,
                       bootstrap_ci, bootstrap_counts, fairness_table, group_rates, summary_metrics,
                       worst_subgroup)
from .frontier import pareto_mask
from .inference import Interval, PointSet, combine, contrast, front_membership, holm, point_set, resample_counts
from .health import (CONSTANT_SHARE, TRIVIAL, beats_majority, degenerate_points, health_rows, is_constant,
                     is_degenerate, majority_rate, mark_degenerate)
from .fairness import HEADLINE_METRICS
from .tables import (GROUP_METRICS, rates_table, rates_with_ci, seed_mean, undefined,
                     with_intervals)

__all__ = ["ALL", "GroupRates", "group_rates", "fairness_table", "summary_metrics", "bootstrap_ci",
           "bootstrap_counts", "aggregate_seeds", "worst_subgroup", "PER_GROUP_METRICS",
           "pareto_mask", "GROUP_METRICS", "HEADLINE_METRICS", "rates_table", "rates_with_ci", "seed_mean",
           "undefined", "with_intervals", "CONSTANT_SHARE", "TRIVIAL", "health_rows", "is_constant", "beats_majority",
           "majority_rate",
           "mark_degenerate", "degenerate_points", "is_degenerate", "Interval", "PointSet", "combine", "contrast",
           "front_membership", "holm", "point_set", "resample_counts"]
