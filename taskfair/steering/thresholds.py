"""Per-group thresholds, the standard post-processing fix, next to weight steering: fairlearn's
``ThresholdOptimizer`` (``prefit=True``) fitted on the validation split over any configuration's
margins, with each example's subgroup as the sensitive feature, and evaluated on test.

Thresholds need each example's group **at prediction time**; a merged model does not (its
fairness is in its weights). Where thresholds beat every merge, the dashboard says so.

Sensitive feature. An example in exactly one subgroup has that subgroup's name; one in several
has their names joined by ``+`` (its own category: the optimizer sees the intersection); one in
none is ``(none)``. A category with fewer than :data:`MIN_CATEGORY` validation examples, or
without both labels there, is pooled into ``(other)``, whose threshold is fitted on the pool. A
test example whose category has no fitted threshold keeps the model's own decision (margin > 0).
The optimizer's decisions are randomised between two thresholds per category; they are drawn
with a fixed ``random_state`` (the seed), so every figure is reproducible.

Metrics are the run's own (one subgroup against the rest), so the points sit on the same axes as
every merge."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..metrics.fairness import ALL
from ..metrics.health import is_degenerate
from ..metrics.tables import rates_with_ci
from ..store.results import RunResults
from .configurations import Variant, VariantSpecError, parse_variant
from .margins import config_margins

__all__ = ["CONSTRAINTS", "MIN_CATEGORY", "ThresholdFit", "sensitive_values", "fit_thresholds",
           "split_thresholds", "threshold_predictions", "threshold_metrics", "threshold_points",
           "metrics_of_margins", "remix_thresholds",
           "THRESHOLD_CAVEAT"]

CONSTRAINTS = {"dp": "demographic_parity", "eo": "equalized_odds"}
NAMES = {"dp": "demographic parity", "eo": "equalized odds"}
MIN_CATEGORY = 10
OTHER, NONE = "(other)", "(none)"
THRESHOLD_CAVEAT = ("Per-group thresholds need each example's subgroup at prediction time; a merged "
                    "model does not (its fairness is in its weights).")


def sensitive_values(masks: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Each example's category from the membership masks ``[G, N]``: its subgroup, the ``+``-joined
    subgroups when it is in several, ``(none)`` when in none."""
    masks = np.asarray(masks, dtype=bool)
    names = np.asarray(groups, dtype=object)
    out = np.empty(masks.shape[1], dtype=object)
    for i in range(masks.shape[1]):
        member = names[masks[:, i]]
        out[i] = "+".join(member) if len(member) else NONE
    return out


def _margins_estimator():
    from sklearn.base import BaseEstimator, ClassifierMixin

    class _Margins(ClassifierMixin, BaseEstimator):
        """A fitted 'estimator' whose decision function is the margins themselves (column 0 of X), so
        that ThresholdOptimizer post-processes stored predictions with ``prefit=True``."""

        def fit(self, X, y=None):  # never called with prefit=True; present for the estimator protocol
            self.fitted_ = True
            return self

        def decision_function(self, X):
            return np.asarray(X, dtype=np.float64)[:, 0]

        def predict(self, X):
            return (self.decision_function(X) > 0).astype(int)

    return _Margins().fit(None)


@dataclass
class ThresholdFit:
    """A fitted per-category threshold policy."""

    constraint: str                 # dp | eo
    categories: tuple[str, ...]     # the categories with a fitted threshold
    pooled: tuple[str, ...]         # validation categories pooled into (other)
    optimizer: object               # fairlearn.postprocessing.ThresholdOptimizer

    def predict(self, margins: np.ndarray, masks: np.ndarray, groups: Sequence[str], *,
                random_state: int = 0) -> np.ndarray:
        """Decisions ``[N]`` (bool) for margins ``[N]`` of examples with memberships ``masks [G, N]``."""
        margins = np.asarray(margins, dtype=np.float64)
        cats = self._categories(sensitive_values(masks, groups))
        out = margins > 0  # a category never seen at fit keeps the model's own decision
        seen = np.isin(cats, self.categories)
        if seen.any():
            out[seen] = self.optimizer.predict(margins[seen, None], sensitive_features=cats[seen],
                                               random_state=random_state).astype(bool)
        return out

    def _categories(self, cats: np.ndarray) -> np.ndarray:
        cats = cats.copy()
        cats[np.isin(cats, self.pooled)] = OTHER
        return cats

    def thresholds(self) -> pd.DataFrame:
        """The fitted policy per category: two thresholds and the probability of the first, as
        fairlearn interpolates them (``p0·[m > t0] + p1·[m > t1]``)."""
        rows = []
        for cat, d in self.optimizer.interpolated_thresholder_.interpolation_dict.items():
            rows.append({"category": cat, "threshold 0": float(d["operation0"].threshold),
                         "p0": float(d["p0"]), "threshold 1": float(d["operation1"].threshold),
                         "p1": float(d["p1"])})
        return pd.DataFrame(rows)


def fit_thresholds(margins: np.ndarray, labels: np.ndarray, masks: np.ndarray, groups: Sequence[str],
                   constraint: str = "dp") -> ThresholdFit:
    """Fit per-category thresholds on validation margins ``[N]``, labels ``[N]`` and memberships
    ``[G, N]`` under ``constraint`` (``dp``: demographic parity, ``eo``: equalized odds), maximising
    accuracy."""
    from fairlearn.postprocessing import ThresholdOptimizer

    if constraint not in CONSTRAINTS:
        raise ValueError(f"threshold constraint {constraint!r} is not one of {', '.join(CONSTRAINTS)} "
                         f"({', '.join(f'{k}: {v}' for k, v in NAMES.items())})")
    margins = np.asarray(margins, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    if not np.isfinite(margins).all():
        raise ValueError("margins contain NaN or inf: thresholds cannot be fitted to them")
    cats = sensitive_values(masks, groups)
    small = []
    for c in np.unique(cats):
        y = labels[cats == c]
        if len(y) < MIN_CATEGORY or y.min() == y.max():
            small.append(str(c))
    cats = cats.copy()
    cats[np.isin(cats, small)] = OTHER
    y_other = labels[cats == OTHER]
    if len(y_other) and (len(y_other) < MIN_CATEGORY or y_other.min() == y_other.max()):
        # the pool is still too thin for a threshold of its own: its examples keep the model's decision
        keep = cats != OTHER
        margins, labels, cats = margins[keep], labels[keep], cats[keep]
        small.append(OTHER)
    if len(np.unique(cats)) < 2 or labels.min() == labels.max():
        raise ValueError("thresholds need at least two subgroups with both labels on validation "
                         f"(categories: {', '.join(map(str, np.unique(cats))) or 'none'})")
    opt = ThresholdOptimizer(estimator=_margins_estimator(), constraints=CONSTRAINTS[constraint],
                             objective="accuracy_score", prefit=True, predict_method="decision_function")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.fit(margins[:, None], labels, sensitive_features=cats)
    fitted = tuple(sorted(str(c) for c in np.unique(cats)))
    return ThresholdFit(constraint, fitted, tuple(s for s in small if s != OTHER), opt)


def split_thresholds(spec: str) -> tuple[str, str | None]:
    """``"fft@dp"`` -> ``("fft", "dp")``; a configuration without ``@`` -> ``(spec, None)``."""
    base, at, c = (spec or "").strip().partition("@")
    if not at:
        return base, None
    if c not in CONSTRAINTS:
        raise VariantSpecError(f"{spec!r}: after '@' give a threshold constraint, one of "
                              f"{', '.join(f'{k} ({v})' for k, v in NAMES.items())}")
    return base, c


def threshold_predictions(results: RunResults, config: Variant | str, constraint: str, seed: int, *,
                          exact: bool = False, base=None) -> tuple[dict[str, np.ndarray], ThresholdFit, bool]:
    """Decisions on val and test of ``config`` post-processed by thresholds fitted on its
    validation margins: ``({split: bool [N]}, fit, estimated)``."""
    if isinstance(config, str):
        config = parse_variant(config, results.groups)
    sr = results.seeds[seed]
    margins, estimated = {}, False
    for split in ("val", "test"):
        margins[split], est = config_margins(results, config, seed, split, exact=exact, base=base)
        estimated |= est
    fit = fit_thresholds(margins["val"], sr.labels["val"], sr.masks["val"], results.groups, constraint)
    out = {s: fit.predict(margins[s], sr.masks[s], results.groups, random_state=seed) for s in margins}
    return out, fit, estimated


def threshold_metrics(results: RunResults, config: Variant | str, constraint: str, *,
                      splits: Sequence[str] = ("val", "test"), n_boot: int = 0,
                      exact: bool = False) -> pd.DataFrame:
    """Per-group and summary metrics of ``config`` with per-group thresholds, for every seed and
    split: a tidy frame ``seed, split, group, metric, value, note`` (``low``/``high`` with
    ``n_boot``), plus ``estimated`` (the margins came from the instant estimate)."""
    if isinstance(config, str):
        config = parse_variant(config, results.groups)
    margins, estimated = {}, {}
    for seed in results.seeds:
        margins[seed], estimated[seed] = {}, False
        for split in ("val", "test"):
            margins[seed][split], est = config_margins(results, config, seed, split, exact=exact)
            estimated[seed] |= est
    return metrics_of_margins(results, margins, constraint, splits=splits, n_boot=n_boot, estimated=estimated)


def metrics_of_margins(results: RunResults, margins: dict[int, dict[str, np.ndarray]], constraint: str, *,
                       splits: Sequence[str] = ("val", "test"), n_boot: int = 0,
                       estimated: dict[int, bool] | None = None) -> pd.DataFrame:
    """:func:`threshold_metrics` of given margins ``{seed: {"val": [N], "test": [N]}}``: thresholds
    fitted on each seed's validation margins, applied to every split."""
    frames = []
    for seed, by_split in margins.items():
        sr = results.seeds[seed]
        fit = fit_thresholds(by_split["val"], sr.labels["val"], sr.masks["val"], results.groups, constraint)
        for split in splits:
            pred = fit.predict(by_split[split], sr.masks[split], results.groups, random_state=seed)
            t = rates_with_ci(pred, sr.labels[split], sr.masks[split], results.groups, n_boot=n_boot, seed=seed)
            why = is_degenerate(pred, sr.labels[split])  # thresholds can make a constant predictor too
            t = pd.concat([t, pd.DataFrame([{"group": ALL, "metric": "degenerate", "value": float(bool(why)),
                                             "note": why}])], ignore_index=True)
            frames.append(t.assign(seed=seed, split=split, estimated=bool((estimated or {}).get(seed, False))))
    return pd.concat(frames, ignore_index=True)


def remix_thresholds(results: RunResults, estimators: dict[str, Sequence], lams: Sequence[float],
                     constraint: str, *, split: str = "test") -> pd.DataFrame:
    """Remix + thresholds, instantly: the remix's estimated margins (``estimators[split]``, one
    :class:`~taskfair.steering.estimate.RemixEstimator` per seed, for ``val`` and ``split``) with
    thresholds fitted on the validation estimate. Per-group metrics, mean over seeds (``mean``)."""
    from ..metrics.tables import seed_mean
    margins = {}
    for i, seed in enumerate(results.seeds):
        margins[seed] = {sp: estimators[sp][i].margins(lams) for sp in dict.fromkeys(("val", split))}
    t = metrics_of_margins(results, margins, constraint, splits=(split,),
                           estimated={s: True for s in results.seeds})
    return seed_mean(t, ["group", "metric"])


def threshold_points(results: RunResults, configs: Sequence[str] = ("fft",),
                     constraints: Sequence[str] = ("dp", "eo"), *, n_boot: int = 0) -> pd.DataFrame:
    """Rows in the shape of the run's metrics (``family`` "thresholds", ``target`` the
    configuration string with its constraint, e.g. ``fft@dp``, ``lam`` NaN) for each configuration
    and constraint: what the Frontier and the Overview draw beside the merges. A configuration the
    run cannot give margins for, or whose validation split is too small to fit, is skipped."""
    frames = []
    for spec in configs:
        for c in constraints:
            try:
                t = threshold_metrics(results, spec, c, n_boot=n_boot)
            except (VariantSpecError, KeyError, ValueError):  # no margins, or too few examples to fit
                continue
            frames.append(t.drop(columns="estimated").assign(family="thresholds", target=f"{spec}@{c}",
                                                             lam=np.nan))
    if not frames:
        return results.metrics.iloc[:0]
    return pd.concat(frames, ignore_index=True)
