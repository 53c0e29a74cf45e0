"""Whether a model learned anything: a constant predictor is trivially "fair" (DPD = EOD = 0), so
every point is checked against the majority class before its fairness is believed.

A point is **degenerate** when it predicts one class for at least ``CONSTANT_SHARE`` (97%) of the
examples of the validation or the test split, or when its validation accuracy does not beat the
majority-class rate of validation. Its rows stay in the metrics table (with ``positive_share``,
``majority_rate`` and ``degenerate`` rows beside them, group ``(all)``), and every consumer (the
chosen λ, the headline, the frontier, the search, the dashboard, reports) asks
:func:`degenerate_points` before it presents or picks one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .fairness import ALL, checked_labels

__all__ = ["CONSTANT_SHARE", "health_rows", "mark_degenerate", "degenerate_points", "is_degenerate",
           "is_constant", "beats_majority", "majority_rate", "TRIVIAL"]

CONSTANT_SHARE = 0.97
TRIVIAL = "trivial: constant predictor"


# ---- the rule, once: every check below (and the search's) is made of these two ----------------
def is_constant(positive_share, constant_share: float = CONSTANT_SHARE):
    """Whether a predictor with this share of positive predictions predicts one class for at
    least ``constant_share`` of the examples (element-wise for arrays; NaN is not constant)."""
    share = np.asarray(positive_share, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.maximum(share, 1 - share) >= constant_share


def beats_majority(accuracy, majority):
    """Whether an accuracy is above the majority-class rate (element-wise; NaN does not beat it)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(accuracy, dtype=float) > np.asarray(majority, dtype=float) + 1e-12


def _constant_reason(share: float, where: str) -> str:
    return f"predicts {'positive' if share >= 0.5 else 'negative'} for {max(share, 1 - share):.0%} of {where}"


def majority_rate(labels: np.ndarray) -> float:
    """The accuracy of always predicting the more frequent label (NaN without examples)."""
    p = float(np.mean(labels)) if len(labels) else float("nan")
    return max(p, 1 - p)


def health_rows(pred: np.ndarray, labels: np.ndarray, points: pd.DataFrame, masks: np.ndarray | None = None,
                groups: Sequence[str] = ()) -> pd.DataFrame:
    """``positive_share`` and ``majority_rate`` rows (group ``(all)``) for T points of one split:
    ``pred`` ``[T, N]`` booleans, ``labels`` ``[N]``, ``points`` T rows of point columns; with
    ``masks`` ``[G, N]`` and ``groups``, each subgroup's majority rate too (a subgroup's own model
    is judged on its own rows)."""
    pred = np.atleast_2d(np.asarray(pred, dtype=bool))
    share = pred.mean(axis=1) if pred.shape[1] else np.full(len(pred), np.nan)
    base = points.reset_index(drop=True)
    out = [base.assign(group=ALL, metric="positive_share", value=share, note=""),
           base.assign(group=ALL, metric="majority_rate", value=majority_rate(labels), note="")]
    for j, g in enumerate(groups):
        out.append(base.assign(group=g, metric="majority_rate", value=majority_rate(np.asarray(labels)[masks[j]]), note=""))
    return pd.concat(out, ignore_index=True)


def mark_degenerate(table: pd.DataFrame, keys: Sequence[str] = ("seed", "family", "target", "lam"),
                    *, constant_share: float = CONSTANT_SHARE) -> pd.DataFrame:
    """``table`` (with ``positive_share``/``majority_rate`` rows) plus one ``degenerate`` row per
    point and split: 1.0 with the reason in ``note``, else 0.0. The decision is per point (from
    validation accuracy and both splits' shares), so both splits carry the same flag."""
    keys = list(keys)
    summary = table[table.group == ALL]
    wide = summary[summary.metric.isin(["accuracy", "positive_share", "majority_rate"])].pivot_table(
        index=keys, columns=["split", "metric"], values="value", aggfunc="first", dropna=False)
    own = {}
    if "family" in keys and "target" in keys:
        sub = table[(table.family == "subgroup") & (table.split == "val") & (table.group == table.target)
                    & table.metric.isin(["accuracy", "majority_rate"])]
        for (seed, target), part in sub.groupby(["seed", "target"], sort=False):
            m = part.set_index("metric")["value"]
            if {"accuracy", "majority_rate"} <= set(m.index):
                own[(seed, target)] = (float(m["accuracy"]), float(m["majority_rate"]))
    rows = []
    for key, r in wide.iterrows():
        reasons = []
        for split in ("val", "test"):
            share = r.get((split, "positive_share"), np.nan)
            if is_constant(share, constant_share):
                reasons.append(_constant_reason(share, split))
        key = key if isinstance(key, tuple) else (key,)
        point = dict(zip(keys, key))
        acc, maj = r.get(("val", "accuracy"), np.nan), r.get(("val", "majority_rate"), np.nan)
        where = "validation"
        if point.get("family") == "subgroup" and (point.get("seed"), point.get("target")) in own:
            # a subgroup's own model is a specialist: judged on that subgroup's validation rows
            acc, maj = own[(point.get("seed"), point.get("target"))]
            where = f"{point.get('target')}'s validation rows"
        if np.isfinite(acc) and np.isfinite(maj) and not beats_majority(acc, maj):
            reasons.append(f"accuracy {acc:.3f} on {where} does not beat the majority class ({maj:.3f})")
        elif ("val", "accuracy") in wide.columns and not np.isfinite(acc):
            # an accuracy that cannot be measured is no evidence of health
            reasons.append(f"accuracy on {where} is undefined (no examples, or a non-finite value)")
        for split in ("val", "test"):
            rows.append({**point, "split": split, "group": ALL, "metric": "degenerate",
                         "value": 1.0 if reasons else 0.0, "note": "; ".join(reasons)})
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True)


def degenerate_points(table: pd.DataFrame, keys: Sequence[str] = ("seed", "family", "target", "lam")
                      ) -> pd.DataFrame:
    """The degenerate points of a metrics table: ``keys`` + ``reason`` (one row per point; empty
    for tables written before the check existed)."""
    keys = list(keys)
    d = table[(table.metric == "degenerate") & (table.value > 0)]
    if "split" in d:
        d = d[d.split == "val"] if (d.split == "val").any() else d
    return d[keys + ["note"]].rename(columns={"note": "reason"}).drop_duplicates(keys).reset_index(drop=True)


def is_degenerate(pred: np.ndarray, labels: np.ndarray, *, constant_share: float = CONSTANT_SHARE) -> str:
    """The reason one prediction vector is degenerate on its own split ("" when it is not): for
    a single configuration evaluated exactly (no validation accuracy to compare)."""
    pred = np.asarray(pred, dtype=bool)
    if not len(pred):
        return ""
    labels = checked_labels(labels)
    share = float(pred.mean())
    if is_constant(share, constant_share):
        return _constant_reason(share, "the examples")
    acc = float(np.mean(pred == np.asarray(labels, dtype=bool)))
    if not beats_majority(acc, majority_rate(labels)):
        return f"accuracy {acc:.3f} does not beat the majority class ({majority_rate(labels):.3f})"
    return ""
