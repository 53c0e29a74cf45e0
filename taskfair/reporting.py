"""Tables the dashboard and reports show, shaped from a run's tidy metrics (pure functions).

Values are averaged over seeds with their standard error (``mean``, ``sem``, ``n``)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .estimate import RemixEstimator
from .fairness import ALL, GroupRates, summary_metrics
from .frontier import pareto_mask
from .results import RunResults

__all__ = ["undefined", "seed_mean", "compare_methods", "uniform_sweep", "family_grid", "frontier_points",
           "remix_metrics", "rates_table", "rates_with_ci", "with_intervals", "min_size_effect",
           "HEADLINE_METRICS", "GROUP_METRICS"]

GROUP_METRICS = ("accuracy", "dpd", "eod")
HEADLINE_METRICS = ("accuracy", "macro_accuracy", "worst_dpd", "worst_eod")


def seed_mean(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean, standard error and count of ``value`` over seeds for each ``keys`` combination."""
    g = df.groupby(list(keys), sort=False, dropna=False)["value"]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["sem"] = (out.pop("std") / np.sqrt(out["n"])).where(out["n"] > 1)
    if "low" in df.columns:  # 95% bootstrap interval over examples, averaged over seeds
        ci = df.groupby(list(keys), sort=False, dropna=False)[["low", "high"]].mean().reset_index()
        out = out.merge(ci, on=list(keys), how="left")
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


def undefined(df: pd.DataFrame, value: str = "mean") -> list[str]:
    """Plain-language lines for every undefined (NaN) value in a seed-mean table with notes."""
    if "note" not in df.columns:
        return []
    rows = df[df[value].isna() & df["note"].astype(bool)]
    cols = [c for c in ("group", "metric") if c in rows.columns]
    seen = rows.drop_duplicates(cols + ["note"])
    return [f"{' · '.join(str(r[c]) for c in cols)}: {r['note']}" for _, r in seen.iterrows()]


def _chosen_uniform(metrics: pd.DataFrame, chosen: dict) -> pd.DataFrame:
    parts = [metrics[(metrics.family == "uniform") & (metrics.seed == int(s)) & np.isclose(metrics.lam, lam)]
             for s, lam in chosen.items()]
    return pd.concat(parts) if parts else metrics.iloc[:0]


def compare_methods(results: RunResults, *, split: str = "test",
                    metrics: Sequence[str] = GROUP_METRICS) -> pd.DataFrame:
    """Per subgroup, FFT vs LoRA vs task addition at the λ chosen on validation (Figure 1)."""
    m = results.metrics
    m = m[(m.split == split) & m.metric.isin(metrics) & (m.group != ALL)]
    parts = [m[m.family == "fft"].assign(method="FFT"), m[m.family == "lora"].assign(method="LoRA"),
             _chosen_uniform(m, results.summary["chosen_lambda"]).assign(method="task addition")]
    return seed_mean(pd.concat(parts), ["method", "group", "metric"])


def min_size_effect(results: RunResults, *, split: str = "test") -> pd.DataFrame:
    """How a minimum subgroup size changes the headline fairness: for each threshold (every
    distinct subgroup size in the data, in rows, as ``dataset.min_group_size`` counts them), the
    worst-case DPD and EOD over the subgroups that meet it, for FFT, LoRA and task addition at
    the chosen λ (mean over seeds). Small subgroups have noisy rates that often set the worst case;
    this shows how much of the headline they carry.

    Returns rows ``method, min_size, groups_kept, kept, metric (worst_dpd|worst_eod), value``."""
    rows_per_group = results.data[list(results.groups)].sum().astype(int)
    per_group = compare_methods(results, split=split, metrics=("dpd", "eod"))
    out = []
    for threshold in sorted(set(rows_per_group.tolist())):
        kept = [g for g in results.groups if rows_per_group[g] >= threshold]
        part = per_group[per_group.group.isin(kept)]
        worst = part.groupby(["method", "metric"], sort=False)["mean"].max().reset_index()
        for r in worst.itertuples():
            out.append({"method": r.method, "min_size": int(threshold), "groups_kept": len(kept),
                        "kept": ", ".join(kept), "metric": f"worst_{r.metric}", "value": float(r[3])})
    return pd.DataFrame(out)


def uniform_sweep(results: RunResults, *, split: str = "test", per_group: bool = False) -> pd.DataFrame:
    """Metrics along the uniform λ sweep (Figure 2), with FFT and LoRA as reference rows (λ NaN)."""
    m = results.metrics[results.metrics.split == split]
    if per_group:
        m = m[(m.group != ALL) & m.metric.isin(GROUP_METRICS)]
    else:
        m = m[(m.group == ALL) & m.metric.isin(HEADLINE_METRICS)]
    m = m[m.family.isin(["uniform", "fft", "lora"])]
    return seed_mean(m, ["family", "lam", "group", "metric"])


def family_grid(results: RunResults, family: str, *, target: str = "", split: str = "test") -> pd.DataFrame:
    """Per-subgroup metrics of a λ grid (uniform, or injection/axis of ``target``), with the FFT
    baseline as the first row (``lam`` NaN, ``row`` "FFT") — the paper's Figure 3 layout."""
    m = results.metrics
    m = m[(m.split == split) & m.metric.isin(GROUP_METRICS) & (m.group != ALL)]
    grid = m[(m.family == family) & (m.target == target)]
    fft = m[m.family == "fft"]
    out = seed_mean(pd.concat([fft, grid]), ["family", "lam", "group", "metric"])
    out["row"] = np.where(out.family == "fft", "FFT", out.lam.map(lambda v: f"λ={v:.2f}"))
    return out


def frontier_points(results: RunResults, *, split: str = "test",
                    unfairness: str = "worst_dpd") -> pd.DataFrame:
    """Every evaluated configuration with its accuracy and worst-case DPD/EOD, and whether it is
    on the Pareto front of accuracy against ``unfairness``."""
    m = results.metrics
    m = m[(m.split == split) & (m.group == ALL) & m.metric.isin(HEADLINE_METRICS)]
    agg = seed_mean(m, ["family", "target", "lam", "metric"])
    wide = agg.pivot_table(index=["family", "target", "lam"], columns="metric", values="mean",
                           dropna=False).reset_index()
    if "low" in agg.columns:  # the 95% bootstrap interval of each axis, mean over seeds
        for bound in ("low", "high"):
            b = agg.pivot_table(index=["family", "target", "lam"], columns="metric", values=bound,
                                dropna=False).reset_index()
            b = b.rename(columns={m: f"{m}_{bound}" for m in HEADLINE_METRICS if m in b.columns})
            wide = wide.merge(b[["family", "target", "lam"] + [c for c in b.columns if c.endswith(f"_{bound}")]],
                              on=["family", "target", "lam"], how="left")
    wide = wide.dropna(subset=["accuracy"]).drop_duplicates(["family", "target", "lam"])
    wide["label"] = [_label(f, t, l) for f, t, l in zip(wide.family, wide.target, wide.lam)]
    wide["pareto"] = pareto_mask(wide["accuracy"].to_numpy(), wide[unfairness].to_numpy())
    return wide.reset_index(drop=True)


def _label(family: str, target: str, lam: float) -> str:
    if family in ("base", "fft", "lora"):
        return {"base": "θ0 (base)", "fft": "FFT", "lora": "LoRA"}[family]
    if family == "subgroup":
        return f"{target} model"
    if family == "uniform":
        return f"uniform λ={lam:.2f}"
    if family == "inject":
        return f"FFT + {lam:.2f}·τ_{target}"
    if family == "pair":
        a, b = target.split("+", 1)
        return f"{lam:.2f}·(τ_{a} + τ_{b})"
    if family in ("ties", "dare"):
        return f"{family.upper()} λ={lam:.2f}"
    if family == "probe":
        return f"random remix {target}"
    return f"{lam:.2f}·τ_{target}"


def rates_table(rates: GroupRates, groups: Sequence[str], point: int = 0) -> pd.DataFrame:
    """One point's per-group accuracy/DPD/EOD and summaries as a tidy frame."""
    rows = [{"group": g, "metric": m, "value": float(getattr(rates, m)[point, j]),
             "note": rates.reasons[j] if np.isnan(getattr(rates, m)[point, j]) else ""}
            for j, g in enumerate(groups) for m in GROUP_METRICS]
    rows += [{"group": ALL, "metric": m, "value": float(v[point]),
              "note": "undefined for every group" if np.isnan(v[point]) else ""}
             for m, v in summary_metrics(rates).items() if m in HEADLINE_METRICS]
    return pd.DataFrame(rows)


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
    from .fairness import bootstrap_ci, group_rates
    t = rates_table(group_rates(pred, labels, masks), groups)
    if n_boot or counts is not None:
        ci = bootstrap_ci(pred, labels, masks, groups, n_boot=n_boot or 1000, seed=seed, counts=counts)
        t = t.merge(ci[["group", "metric", "low", "high"]], on=["group", "metric"], how="left")
    return t


def remix_metrics(estimators: Sequence[RemixEstimator], lams: Sequence[float], *,
                  n_boot: int = 200) -> pd.DataFrame:
    """Estimated metrics of ``θ0 + Σ λ_g τ_g``, averaged over seeds (one estimator per seed), with
    95% bootstrap intervals over the examples (the same ``n_boot`` resamples at every λ)."""
    frames = [rates_with_ci(e.margins(lams) > 0, e.labels, e.masks, e.groups,
                            counts=e.resamples(n_boot) if n_boot else None).assign(seed=e.results.seed)
              for e in estimators]
    return seed_mean(pd.concat(frames), ["group", "metric"])
