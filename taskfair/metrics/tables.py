"""Per-point metric tables (pure functions): one point's per-group accuracy/DPD/EOD and summaries
as a tidy frame, with bootstrap intervals; means over seeds with their standard error and an
interval for the mean that includes seed-to-seed variation (:func:`seed_interval`); and
``value [low, high]`` for reading."""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from .fairness import ALL, HEADLINE_METRICS, GroupRates, bootstrap_ci, group_rates, summary_metrics

__all__ = ["GROUP_METRICS", "HEADLINE_METRICS", "seed_mean", "seed_interval", "seed_mean_aligned", "seed_mean_columns", "seed_means", "undefined",
           "rates_columns", "rates_table", "rates_with_ci", "with_intervals"]

GROUP_METRICS = ("accuracy", "dpd", "eod")


def seed_mean(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean, standard error and count of ``value`` over seeds for each ``keys`` combination."""
    g = df.groupby(list(keys), sort=False, dropna=False)["value"]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["sem"] = (out.pop("std") / np.sqrt(out["n"])).where(out["n"] > 1)
    if "low" in df.columns:  # the interval of the mean over seeds (seed_interval), from each seed's bounds
        arms = df.assign(_lo=df["value"] - df["low"], _hi=df["high"] - df["value"])
        ci = arms.groupby(list(keys), sort=False, dropna=False).agg(
            _lo=("_lo", "mean"), _hi=("_hi", "mean"), _var=("value", "var")).reset_index()
        out = out.merge(ci, on=list(keys), how="left")
        out["low"], out["high"] = seed_interval(out["mean"].to_numpy(float), out["n"].to_numpy(), out.pop("_lo").to_numpy(float),
                                                out.pop("_hi").to_numpy(float), out.pop("_var").to_numpy(float))
    if "note" in df.columns:  # why a value is undefined, carried along for the dashboard
        noted = df[df["note"].astype(bool)]
        if len(noted):
            notes = noted.groupby(list(keys), sort=False, dropna=False)["note"].agg(
                lambda s: "; ".join(sorted(set(s)))).rename("note").reset_index()
            out = out.merge(notes, on=list(keys), how="left")
            out["note"] = out["note"].fillna("")
        else:
            out["note"] = ""
    return out


def seed_interval(mean: np.ndarray, n: np.ndarray, low_arm: np.ndarray, high_arm: np.ndarray,
                  var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95% interval of a mean over ``n`` seeds from each seed's own interval: the normal
    approximation of :func:`taskfair.metrics.inference.combine`'s two-level interval. ``low_arm``
    and ``high_arm`` are the mean over seeds of ``value − low`` and ``high − value``; ``var`` the
    seed-to-seed variance of the values. The examples' part of each arm shrinks by ``√n``; the
    seeds' part, ``σ² = max(0, var − w̄)`` (``w̄`` the examples' variance read off the arms), enters
    with Student's t on ``n − 1`` degrees of freedom. One seed: its own interval."""
    from scipy.stats import t as student
    n = np.asarray(n, dtype=np.float64)
    many = n > 1
    with np.errstate(invalid="ignore", divide="ignore"):
        w = ((low_arm + high_arm) / (2 * 1.959964)) ** 2
        between = np.where(many, np.maximum(0.0, np.nan_to_num(var) - w), 0.0)
        tq = np.where(many, student.ppf(0.975, np.maximum(n - 1, 1)), 0.0)
        seeds = tq ** 2 * between / np.where(many, n, 1)
        lo = np.where(many, np.sqrt(low_arm ** 2 / np.maximum(n, 1) + seeds), low_arm)
        hi = np.where(many, np.sqrt(high_arm ** 2 / np.maximum(n, 1) + seeds), high_arm)
    return mean - lo, mean + hi


def seed_mean_aligned(frames: Sequence[pd.DataFrame], keys: Sequence[str]) -> pd.DataFrame:
    """:func:`seed_mean` of ``pd.concat(frames)`` when every frame (one per seed) has the same
    ``keys`` rows in the same order, as one point's tables do: the same frame, computed on arrays
    (a Remix slider move, several times faster than a group-by). Falls back to :func:`seed_mean`."""
    keys = list(keys)
    first = frames[0]
    rows = list(zip(*(first[k].tolist() for k in keys)))   # plain lists: pandas' own checks cost more
    if len(set(rows)) != len(rows) or any(
            list(f.columns) != list(first.columns) or list(zip(*(f[k].tolist() for k in keys))) != rows
            for f in frames[1:]):
        return seed_mean(pd.concat(frames), keys)
    low = high = None
    if "low" in first.columns:
        low, high = (np.stack([f[c].to_numpy(float) for f in frames]) for c in ("low", "high"))
    return seed_mean_columns({k: first[k].to_numpy() for k in keys}, np.stack([f["value"].to_numpy(float) for f in frames]),
                             [f["note"].tolist() for f in frames] if "note" in first.columns else None, low, high)


def seed_means(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over the seeds (axis 0) of ``values [S, …]``: the mean, the count and the standard error of
    the values that are defined (NaN left out; the mean NaN where none is, the error where < 2 are)."""
    vals = np.asarray(values, dtype=np.float64)
    n = (~np.isnan(vals)).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(vals, 0) / np.maximum(n, 1), np.nan)
        var = np.nansum((vals - mean) ** 2, 0) / (n - 1)
        sem = np.where(n > 1, np.sqrt(var) / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, n, sem


def seed_mean_columns(keys: dict[str, Sequence], values: np.ndarray, notes: Sequence[Sequence[str]] | None = None,
                      low: np.ndarray | None = None, high: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`seed_mean`'s frame from arrays: ``values [S, R]`` (a row per seed) of the ``R`` rows
    named by ``keys`` (column → ``R`` values), with each seed's ``notes`` and interval bounds
    ``low``/``high [S, R]`` when given."""
    mean, n, sem = seed_means(values)
    out = {**keys, "mean": mean, "n": n.astype(np.int64), "sem": sem}
    if low is not None:
        vals = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # a row with < 2 seeds: its variance is unused
            var = np.where(n > 1, np.nanvar(vals, axis=0, ddof=1) if len(vals) > 1 else 0.0, np.nan)
        out["low"], out["high"] = seed_interval(mean, n, seed_means(vals - low)[0], seed_means(high - vals)[0], var)
    if notes is not None:
        out["note"] = ["; ".join(sorted({x for x in row if x})) for row in zip(*notes)]
    return pd.DataFrame(out)


def undefined(df: pd.DataFrame, value: str = "mean") -> list[str]:
    """Plain-language lines for every undefined (NaN) value in a seed-mean table with notes."""
    if "note" not in df.columns or not np.isnan(df[value].to_numpy(float)).any():
        return []   # the common case, cheaply (a slider move asks every time)
    rows = df[df[value].isna() & df["note"].astype(bool)]
    cols = [c for c in ("group", "metric") if c in rows.columns]
    seen = rows.drop_duplicates(cols + ["note"])
    return [f"{' · '.join(str(r[c]) for c in cols)}: {r['note']}" for _, r in seen.iterrows()]


def rates_columns(rates: GroupRates, groups: Sequence[str], point: int = 0) -> dict[str, list | np.ndarray]:
    """One point's per-group accuracy/DPD/EOD and summaries, column by column (``group``,
    ``metric``, ``value``, ``note``: why a value is undefined)."""
    per = np.array([[getattr(rates, m)[point, j] for m in GROUP_METRICS] for j in range(len(groups))],
                   dtype=np.float64).reshape(-1)
    summary = summary_metrics(rates)
    overall = np.array([summary[m][point] for m in HEADLINE_METRICS], dtype=np.float64)
    value = np.concatenate([per, overall])
    reason = [rates.reasons[j] for j in range(len(groups)) for _ in GROUP_METRICS]
    reason += ["undefined for every group"] * len(HEADLINE_METRICS)
    return {"group": [g for g in groups for _ in GROUP_METRICS] + [ALL] * len(HEADLINE_METRICS),
            "metric": list(GROUP_METRICS) * len(groups) + list(HEADLINE_METRICS),
            "value": value,
            "note": [r if np.isnan(v) else "" for r, v in zip(reason, value)]}


def rates_table(rates: GroupRates, groups: Sequence[str], point: int = 0) -> pd.DataFrame:
    """One point's per-group accuracy/DPD/EOD and summaries as a tidy frame."""
    return pd.DataFrame(rates_columns(rates, groups, point))


def with_intervals(table: pd.DataFrame, *, fmt: str = ".3f") -> pd.DataFrame:
    """A table for reading: every column ``c`` that has ``c low`` and ``c high`` beside it becomes
    ``value [low, high]`` (formatted with ``fmt``), and the bound columns go."""
    out = table.copy()
    for col in [c for c in table.columns if f"{c} low" in table.columns and f"{c} high" in table.columns]:
        out[col] = [f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]" for v, lo, hi in
                    zip(table[col], table[f"{col} low"], table[f"{col} high"])]
        out = out.drop(columns=[f"{col} low", f"{col} high"])
    return out


def rates_with_ci(pred: np.ndarray, labels: np.ndarray, masks: np.ndarray, groups: Sequence[str], *,
                  n_boot: int = 0, seed: int = 0, counts: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`rates_table` of one point's predictions ``[N]``, with ``low``/``high``, its 95%
    bootstrap interval over the examples, when ``n_boot`` (or fixed resample ``counts``) is given."""
    t = rates_table(group_rates(pred, labels, masks), groups)
    if n_boot or counts is not None:
        ci = bootstrap_ci(pred, labels, masks, groups, n_boot=n_boot or 1000, seed=seed, counts=counts)
        t = t.merge(ci[["group", "metric", "low", "high"]], on=["group", "metric"], how="left")
    return t
