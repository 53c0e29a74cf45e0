"""Steering a finished run: name any configuration in one string, estimate a remix instantly
from the stored predictions, evaluate any configuration exactly, search coefficients under
fairness bounds, list the examples that flip between two configurations, and analyse the task
vectors; plus the views of a run that the dashboard and the report show.

- :mod:`.configurations` — ``fft``, ``uniform:0.4``, ``remix:…`` → :class:`Variant` and its merge
  :class:`Recipe`
- :mod:`.margins`        — :func:`config_margins`: a configuration's margins (stored, estimated or exact)
- :mod:`.estimate`       — :class:`RemixEstimator`, :func:`remix_metrics`
- :mod:`.remix`          — :func:`remix_view`: one slider position, everything the Remix page shows
- :mod:`.exact`          — :func:`load_theta0`, :func:`build_model`, :func:`exact_metrics`
- :mod:`.search`         — :func:`search_coefficients`, :func:`confirm`
- :mod:`.diff`           — :func:`example_diff`
- :mod:`.sensitivity`    — :func:`vector_tables`, :func:`sensitivity`
- :mod:`.thresholds`     — :func:`fit_thresholds`, :func:`threshold_metrics`: per-group thresholds
  (fairlearn's ThresholdOptimizer) over any configuration, the post-processing baseline
- :mod:`.evidence`       — :func:`point_sets`: every stored point under its seed's shared resamples
- :mod:`.findings`       — :func:`findings`: the study's findings checked on a run, by paired tests
- :mod:`.bound`          — :func:`scaling_bound`: how far DPD/EOD can move along a vector (finding e)
- :mod:`.calibration`    — :func:`synthetic_results`, :func:`verdict_rates`: runs whose truth is known
- :mod:`.views`          — :func:`compare_methods`, :func:`uniform_sweep`, :func:`frontier_points` …
"""
from .configurations import (Variant, VariantSpecError, Recipe, config_forms, method_recipe_params, parse_variant,
                             recipe, stored_configs)
from .margins import config_margins
from .diff import DIRECTIONS, ExampleDiff, example_diff
from .estimate import RemixEstimator, remix_health, remix_metrics
from .bound import scaling_bound
from .calibration import Scenario, synthetic_results, verdict_rates
from .evidence import point_sets
from .findings import Finding, findings
from .remix import RemixView, remix_view
from .exact import build_model, exact_metrics, load_theta0, merged_model, model_margins
from .search import SearchResult, confirm, search_coefficients
from .sensitivity import sensitivity, vector_tables
from .thresholds import (THRESHOLD_CAVEAT, ThresholdFit, fit_thresholds, split_thresholds, threshold_metrics,
                         threshold_points)
from .views import compare_methods, family_grid, frontier_points, health_warnings, min_size_effect, uniform_sweep

__all__ = ["Variant", "VariantSpecError", "Recipe", "recipe", "parse_variant", "config_margins", "config_forms",
           "method_recipe_params",
           "stored_configs", "RemixEstimator", "remix_metrics", "remix_health", "RemixView", "remix_view", "load_theta0", "build_model",
           "merged_model", "model_margins", "exact_metrics",
           "SearchResult", "search_coefficients", "confirm", "DIRECTIONS", "ExampleDiff", "example_diff",
           "vector_tables", "sensitivity", "compare_methods", "uniform_sweep", "family_grid",
           "frontier_points", "min_size_effect", "health_warnings", "Finding", "findings",
           "scaling_bound", "point_sets", "Scenario", "synthetic_results", "verdict_rates",
           "THRESHOLD_CAVEAT", "ThresholdFit", "fit_thresholds", "split_thresholds", "threshold_metrics",
           "threshold_points"]
