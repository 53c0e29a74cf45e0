"""Group fairness of binary predictions, one subgroup (A=1) against the rest of the data (A=0).

Everything is vectorized over many evaluation points at once: predictions are ``[T, N]``
(T points, e.g. λ values; N examples), group masks ``[G, N]``; per-group rates come from a few
matrix products. Undefined rates (an empty group, a group without positives) are NaN, and the
tidy table says why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "GroupRates",
    "group_rates",
    "checked_labels",
    "checked_masks",
    "fairness_table",
    "summary_metrics",
    "bootstrap_ci",
    "aggregate_seeds",
    "worst_subgroup",
    "PER_GROUP_METRICS",
    "HEADLINE_METRICS",
]

PER_GROUP_METRICS = ("accuracy", "selection_rate", "tpr", "fpr", "dpd", "eod", "n", "positives")
# the four figures every headline, comparison and summary states (of :func:`summary_metrics`)
HEADLINE_METRICS = ("accuracy", "macro_accuracy", "worst_dpd", "worst_eod")
ALL = "(all)"


@dataclass(frozen=True)
class GroupRates:
    """Per-point, per-group rates, each ``[T, G]`` (``n``/``positives``: ``[G]``, from the
    first point's weights)."""

    accuracy: np.ndarray
    selection_rate: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    dpd: np.ndarray
    eod: np.ndarray
    n: np.ndarray
    positives: np.ndarray
    overall_accuracy: np.ndarray
    reasons: tuple[str, ...]

    @property
    def macro_accuracy(self) -> np.ndarray:
        return _nanreduce(np.nanmean, self.accuracy)

    @property
    def worst_dpd(self) -> np.ndarray:
        return _nanreduce(np.nanmax, self.dpd)

    @property
    def worst_eod(self) -> np.ndarray:
        return _nanreduce(np.nanmax, self.eod)

    @property
    def accuracy_parity(self) -> np.ndarray:
        """Largest gap between two subgroups' accuracies."""
        return _nanreduce(np.nanmax, self.accuracy) - _nanreduce(np.nanmin, self.accuracy)


def _nanreduce(fn, x: np.ndarray) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    ok = ~np.isnan(x).all(axis=1)
    if ok.any():
        out[ok] = fn(x[ok], axis=1)
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _as_points(pred: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred)
    if pred.ndim == 1:
        pred = pred[None, :]
    if pred.ndim != 2:
        raise ValueError(f"predictions must be [n_points, n_examples] or [n_examples], got {pred.shape}")
    if pred.dtype != bool and not np.isin(pred, (0, 1)).all():
        raise ValueError("predictions must be binary (0/1 or bool); threshold margins first (margin > 0)")
    return pred.astype(np.float64)


def checked_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` as float64 0/1, refusing what no rate can be measured on: a label that is not
    0 or 1 (2 would count as a positive in TPR, -1 as neither), NaN, or infinite."""
    y = np.asarray(labels)
    if y.dtype == bool:
        return y.astype(np.float64)
    try:
        yf = y.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"labels must be 0/1 numbers, got dtype {y.dtype}") from None
    if ((yf == 0) | (yf == 1)).all():   # the common case, a few µs (np.isin is ten times slower)
        return yf
    bad = ~np.isin(yf, (0.0, 1.0))
    if bad.any():
        seen = sorted({str(v) for v in yf[bad][:1000]})[:5]
        raise ValueError(f"labels must be 0 or 1 (binary ground truth); {int(bad.sum())} are not "
                         f"(values {', '.join(seen)}); map them to 0/1 first")
    return yf


def checked_masks(masks: np.ndarray) -> np.ndarray:
    """Group masks ``[G, N]`` as booleans, refusing NaN or values other than 0/1 (``NaN`` would be
    read as a member by ``astype(bool)``)."""
    m = np.asarray(masks)
    if m.dtype == bool:
        return m
    try:
        mf = m.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"group masks must be boolean, got dtype {m.dtype}") from None
    bad = ~((mf == 0) | (mf == 1))
    if bad.any():
        raise ValueError(f"group masks must be boolean (or 0/1); {int(bad.sum())} entries are not "
                         f"(e.g. {mf[bad][0]!r}): membership cannot be NaN")
    return mf.astype(bool)


def group_rates(
    pred: np.ndarray,
    labels: np.ndarray,
    masks: np.ndarray,
    *,
    weights: np.ndarray | None = None,
) -> GroupRates:
    """Per-group accuracy, selection rate, TPR, FPR, DPD and EOD for every point.

    Args:
        pred: binary predictions ``[T, N]`` (or ``[N]``).
        labels: binary labels ``[N]``.
        masks: boolean group masks ``[G, N]``; groups may overlap.
        weights: optional example weights ``[N]`` (e.g. bootstrap counts).

    DPD = |P(ŷ=1|A=1) − P(ŷ=1|A=0)| and EOD = max(|ΔTPR|, |ΔFPR|) with A=1 the group and A=0 the
    rest of the data.
    """
    P = _as_points(pred)
    y = checked_labels(labels)
    M = checked_masks(masks).astype(np.float64)
    if M.ndim != 2 or M.shape[1] != P.shape[1] or y.shape != (P.shape[1],):
        raise ValueError(f"shape mismatch: predictions {P.shape}, labels {y.shape}, masks {M.shape}; "
                         "expected [T, N], [N], [G, N]")
    if weights is None:
        W = np.ones(P.shape[1])
        n_in, pos_in = M.sum(axis=1)[None, :], (M @ y)[None, :]  # [1, G]
        n_all, pos_all = np.array([W.sum()]), np.array([y.sum()])  # [1]
        PW = P
    else:
        W = np.asarray(weights, dtype=np.float64)
        W2 = np.broadcast_to(W, P.shape) if W.ndim == 1 else W
        n_in, pos_in = W2 @ M.T, (W2 * y) @ M.T  # [T, G]
        n_all, pos_all = W2.sum(axis=1), W2 @ y  # [T]
        PW = P * W

    # Counts inside each group (A=1) and in the whole data; the rest (A=0) is the difference.
    neg_in, neg_all = n_in - pos_in, n_all - pos_all
    sel_in, sel_all = PW @ M.T, PW.sum(axis=1)  # [T, G], [T]
    tp_in, tp_all = (PW * y) @ M.T, PW @ y
    fp_in, fp_all = sel_in - tp_in, sel_all - tp_all
    correct = (P * y + (1.0 - P) * (1.0 - y)) * W  # [T, N]
    acc = _ratio(correct @ M.T, n_in)

    col = lambda v: v[:, None]  # noqa: E731 - [T] -> [T, 1] to broadcast against [T, G]
    sr1, sr0 = _ratio(sel_in, n_in), _ratio(col(sel_all) - sel_in, col(n_all) - n_in)
    tpr1, tpr0 = _ratio(tp_in, pos_in), _ratio(col(tp_all) - tp_in, col(pos_all) - pos_in)
    fpr1, fpr0 = _ratio(fp_in, neg_in), _ratio(col(fp_all) - fp_in, col(neg_all) - neg_in)
    dpd = np.abs(sr1 - sr0)
    eod = np.maximum(np.abs(tpr1 - tpr0), np.abs(fpr1 - fpr0))
    overall = _ratio(correct.sum(axis=1), n_all)

    # Reasons are read off the first point (they only differ between points under weights).
    n_in, pos_in, neg_in = n_in[0], pos_in[0], neg_in[0]
    n_all, pos_all, neg_all = n_all[0], pos_all[0], neg_all[0]
    reasons = []
    for g in range(M.shape[0]):
        why = []
        if n_in[g] == 0:
            why.append("no rows in the group")
        elif n_in[g] == n_all:
            why.append("the group is the whole data (no rest to compare with)")
        else:
            for count, what in ((pos_in[g], "no positives in the group: TPR and EOD undefined"),
                                (pos_all - pos_in[g], "no positives outside the group: EOD undefined"),
                                (neg_in[g], "no negatives in the group: FPR and EOD undefined"),
                                (neg_all - neg_in[g], "no negatives outside the group: EOD undefined")):
                if count == 0:
                    why.append(what)
        reasons.append("; ".join(why))
    return GroupRates(acc, sr1, tpr1, fpr1, dpd, eod, n_in, pos_in, overall, tuple(reasons))


def summary_metrics(rates: GroupRates) -> dict[str, np.ndarray]:
    """The headline numbers per point: accuracy, macro accuracy, worst DPD/EOD, accuracy parity."""
    return {
        "accuracy": rates.overall_accuracy,
        "macro_accuracy": rates.macro_accuracy,
        "worst_dpd": rates.worst_dpd,
        "worst_eod": rates.worst_eod,
        "accuracy_parity": rates.accuracy_parity,
    }


def fairness_table(
    pred: np.ndarray,
    labels: np.ndarray,
    masks: np.ndarray,
    groups: Sequence[str],
    *,
    points: pd.DataFrame | Mapping[str, Sequence] | None = None,
) -> pd.DataFrame:
    """Tidy metrics: one row per (point, group, metric).

    ``points`` labels the T points (e.g. ``{"method": [...], "lam": [...]}``); its columns lead
    the table. Summary metrics carry ``group == "(all)"``. ``note`` explains NaN values.
    """
    rates = group_rates(pred, labels, masks)
    T, G = rates.accuracy.shape
    if len(groups) != G:
        raise ValueError(f"{len(groups)} group names for {G} masks")
    pts = pd.DataFrame(points if points is not None else {"point": np.arange(T)})
    if len(pts) != T:
        raise ValueError(f"points has {len(pts)} rows for {T} prediction rows")
    blocks = []
    for metric in PER_GROUP_METRICS:
        v = getattr(rates, metric)
        v = np.broadcast_to(v, (T, G)) if v.ndim == 1 else v
        blocks.append(pd.DataFrame({
            "_point": np.repeat(np.arange(T), G),
            "group": np.tile(np.asarray(groups, dtype=object), T),
            "metric": metric,
            "value": v.reshape(-1).astype(np.float64),
        }))
    note = np.tile(np.asarray(rates.reasons, dtype=object), T)
    for b, metric in zip(blocks, PER_GROUP_METRICS):
        b["note"] = np.where(np.isnan(b["value"].to_numpy()), note, "") if metric not in ("n", "positives") else ""
    for metric, v in summary_metrics(rates).items():
        blocks.append(pd.DataFrame({"_point": np.arange(T), "group": ALL, "metric": metric,
                                    "value": v, "note": np.where(np.isnan(v), "undefined for every group", "")}))
    long = pd.concat(blocks, ignore_index=True)
    out = pts.reset_index(drop=True).iloc[long["_point"].to_numpy()].reset_index(drop=True)
    return pd.concat([out, long.drop(columns="_point")], axis=1)


def bootstrap_counts(n: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Multinomial resample counts ``[n_boot, n]`` of ``n`` examples."""
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def bootstrap_ci(
    pred: np.ndarray,
    labels: np.ndarray,
    masks: np.ndarray,
    groups: Sequence[str],
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    counts: np.ndarray | None = None,
) -> pd.DataFrame:
    """Percentile bootstrap intervals over test examples for one point's metrics.

    Resampling is expressed as multinomial example counts ``[B, N]``, so all replicates are one
    weighted call of :func:`group_rates`: a few matrix products. Pass ``counts`` (from
    :func:`bootstrap_counts`) to reuse the same resamples across calls.
    """
    P = _as_points(pred)
    if P.shape[0] != 1:
        raise ValueError("bootstrap_ci takes the predictions of one point ([N] or [1, N])")
    N = P.shape[1]
    if counts is None:
        counts = bootstrap_counts(N, n_boot, seed)
    n_boot = counts.shape[0]
    r = group_rates(np.broadcast_to(P, (n_boot, N)), labels, masks, weights=counts)
    rows = []
    per_group = {m: getattr(r, m) for m in ("accuracy", "selection_rate", "tpr", "fpr", "dpd", "eod")}
    summary = {m: v[:, None] for m, v in summary_metrics(r).items()}
    for block, names in ((per_group, list(groups)), (summary, [ALL])):
        for metric, arr in block.items():  # arr: [B, G] or [B, 1]
            with np.errstate(all="ignore"):
                lo = np.nanquantile(arr, alpha / 2, axis=0)
                hi = np.nanquantile(arr, 1 - alpha / 2, axis=0)
            for j, g in enumerate(names):
                rows.append({"group": g, "metric": metric, "low": float(lo[j]), "high": float(hi[j])})
    return pd.DataFrame(rows)


def aggregate_seeds(table: pd.DataFrame, *, seed_column: str = "seed") -> pd.DataFrame:
    """Mean, standard error and count over seeds for every other key of a tidy table."""
    keys = [c for c in table.columns if c not in (seed_column, "value", "note")]
    g = table.groupby(keys, sort=False, dropna=False)["value"]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["sem"] = out["std"] / np.sqrt(out["n"].where(out["n"] > 0))
    return out.drop(columns="std")


def worst_subgroup(
    table: pd.DataFrame,
    *,
    exclude: Sequence[str] = ("other",),
) -> str:
    """The subgroup with the highest mean of DPD and EOD (averaged over every row given, e.g. the
    FFT rows of all seeds), excluding ``exclude`` and the summary rows."""
    rows = table[table["metric"].isin(["dpd", "eod"]) & ~table["group"].isin([*exclude, ALL])]
    score = rows.groupby("group")["value"].mean().dropna()
    if score.empty:
        raise ValueError("no subgroup has defined DPD/EOD values to rank")
    return str(score.idxmax())
