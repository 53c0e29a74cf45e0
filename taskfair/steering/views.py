"""Views of a finished run that the dashboard and the report show, shaped from its tidy metrics
(pure functions): FFT vs LoRA vs task addition per subgroup, the uniform sweep, λ grids, the
frontier, and the effect of a minimum subgroup size. Values are averaged over seeds with their
standard error (``mean``, ``sem``, ``n``)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..methods import grid_methods, method_spec
from ..metrics.fairness import ALL
from ..metrics.frontier import pareto_mask
from ..metrics.inference import N_BOOT, N_BOOT_TESTS, combine, contrast, front_membership, holm
from ..metrics.health import degenerate_points
from ..metrics.tables import GROUP_METRICS, HEADLINE_METRICS, seed_mean
from ..store.results import RunResults
from .evidence import degenerate_keys, point_key, point_sets
from .thresholds import THRESHOLD_CAVEAT as _CAVEAT

__all__ = ["compare_methods", "uniform_sweep", "family_grid", "frontier_points", "front_shares", "candidate_evidence", "min_size_effect",
           "health_warnings", "point_config", "chosen_configs", "methods_headline", "thresholds_against_merges",
           "family_overall"]


def _chosen_uniform(metrics: pd.DataFrame, chosen: dict) -> pd.DataFrame:
    parts = [metrics[(metrics.family == "uniform") & (metrics.seed == int(s)) & np.isclose(metrics.lam, lam)]
             for s, lam in chosen.items()]
    return pd.concat(parts) if parts else metrics.iloc[:0]


def compare_methods(results: RunResults, *, split: str = "test", metrics: Sequence[str] = GROUP_METRICS,
                    extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per subgroup, FFT vs LoRA vs task addition at the λ chosen on validation (Figure 1), and
    the points of ``extra`` (e.g. per-group thresholds) as methods of their own."""
    m = results.metrics
    m = m[(m.split == split) & m.metric.isin(metrics) & (m.group != ALL)]
    parts = [m[m.family == "fft"].assign(method="FFT"), m[m.family == "lora"].assign(method="LoRA"),
             _chosen_uniform(m, results.summary["chosen_lambda"]).assign(method="task addition")]
    if extra is not None and len(extra):
        e = extra[(extra.split == split) & extra.metric.isin(metrics) & (extra.group != ALL)]
        parts.append(e.assign(method=[_label(f, t, l) for f, t, l in zip(e.family, e.target, e.lam)]))
    return seed_mean(pd.concat(parts), ["method", "group", "metric"])


def methods_headline(results: RunResults, *, split: str = "test",
                     extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Accuracy and worst-case DPD/EOD of FFT, LoRA, task addition at the chosen λ and the points
    of ``extra`` (per-group thresholds): one row per method, ``metric``, ``metric low``/``high``
    (means over seeds)."""
    m = results.metrics
    m = m[(m.split == split) & (m.group == ALL)]
    parts = [m[m.family == "fft"].assign(method="FFT"), m[m.family == "lora"].assign(method="LoRA"),
             _chosen_uniform(m, results.summary["chosen_lambda"]).assign(method="task addition")]
    if extra is not None and len(extra):
        e = extra[(extra.split == split) & (extra.group == ALL)]
        parts.append(e.assign(method=[_label(f, t, l) for f, t, l in zip(e.family, e.target, e.lam)]))
    t = seed_mean(pd.concat(parts), ["method", "metric"])
    t = t[t.metric.isin(["accuracy", "worst_dpd", "worst_eod"])]
    out = t.pivot_table(index="method", columns="metric", values="mean", sort=False)
    if "low" in t.columns:
        for b in ("low", "high"):
            out = out.join(t.pivot_table(index="method", columns="metric", values=b, sort=False)
                           .rename(columns=lambda c: f"{c} {b}"))
    return out.reset_index()


def chosen_configs(results: RunResults) -> list[str]:
    """FFT, LoRA and task addition at the chosen λ as configuration strings (task addition only
    when every seed chose the same λ, since one string names one configuration)."""
    out = ["fft", "lora"]
    lams = {round(float(v), 6) for v in results.summary.get("chosen_lambda", {}).values()}
    if len(lams) == 1:
        out.append(f"uniform:{lams.pop():g}")
    return out


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


def family_overall(results: RunResults, family: str, *, split: str = "test") -> dict[str, float]:
    """A stored family's overall metrics (``(all)`` rows), mean over seeds and points."""
    m = results.metrics
    return m[(m.family == family) & (m.split == split) & (m.group == ALL)].groupby("metric").value.mean().to_dict()


def family_grid(results: RunResults, family: str, *, target: str = "", split: str = "test",
                n_boot: int = N_BOOT) -> pd.DataFrame:
    """Per-subgroup metrics of a λ grid (uniform, or injection/axis of ``target``), with the FFT
    baseline as the first row (``lam`` NaN, ``row`` "FFT") — the paper's Figure 3 layout. Each
    cell also carries its paired difference from FFT's cell of the same subgroup (``diff``, with
    its 95% interval ``diff_low``/``diff_high``: the same resampled examples for both, two-level
    across seeds)."""
    m = results.metrics
    m = m[(m.split == split) & m.metric.isin(GROUP_METRICS) & (m.group != ALL)]
    grid = m[(m.family == family) & (m.target == target)]
    fft = m[m.family == "fft"]
    out = seed_mean(pd.concat([fft, grid]), ["family", "lam", "group", "metric"])
    out["row"] = np.where(out.family == "fft", "FFT", out.lam.map(lambda v: f"λ={v:.2f}"))
    sets = point_sets(results, split=split, n_boot=n_boot, families=("fft", family))
    base = point_key("fft")
    diffs = {}
    for lam in sorted(set(grid.lam.dropna())):
        k = point_key(family, target, lam)
        for g in results.groups:
            for metric in GROUP_METRICS:
                iv = contrast(list(sets.values()), lambda s: {k: 1.0, base: -1.0} if s.has(k) and s.has(base) else None,
                              metric, group=g)
                diffs[(round(float(lam), 6), g, metric)] = (iv.estimate, iv.low, iv.high)
    look = [diffs.get((None if pd.isna(l) else round(float(l), 6), g, mt), (np.nan,) * 3)
            for l, g, mt in zip(out.lam, out.group, out.metric)]
    out["diff"], out["diff_low"], out["diff_high"] = (np.array([x[i] for x in look], dtype=float) for i in range(3))
    return out


def point_config(family: str, target: str, lam: float, groups) -> str:
    """The configuration string of a stored point (what the export, report and diff take), or
    "" for a random probe, whose coefficients the metrics table does not hold."""
    def g(v) -> str:
        return f"{float(v):g}"
    if family in ("base", "fft", "lora"):
        return family
    if family == "thresholds":
        return str(target)
    if family == "subgroup":
        return f"subgroup:{target}"
    if family == "uniform" or family in grid_methods():
        return f"{family}:{g(lam)}"
    if family in ("inject", "axis"):
        return f"{family}:{target}:{g(lam)}"
    if family == "pair":
        pair = set(str(target).split("+"))
        return "remix:" + ",".join(g(lam) if x in pair else "0" for x in groups)
    return ""


def frontier_points(results: RunResults, *, split: str = "test", unfairness: str = "worst_dpd",
                    extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every evaluated configuration with its accuracy and worst-case DPD/EOD, and whether it is
    on the Pareto front of accuracy against ``unfairness``: ``front_share`` is the share of paired
    resamples in which a stored point is on the front, ``pareto`` is a share of at least
    :data:`FRONT_SHARE` (the point-estimate front, ``pareto_estimate``, for points without stored
    predictions); ``extra`` adds rows in the metrics' shape (e.g. per-group thresholds, family
    ``thresholds``)."""
    full = results.metrics if extra is None or not len(extra) else pd.concat([results.metrics, extra],
                                                                             ignore_index=True)
    m = full[(full.split == split) & (full.group == ALL) & full.metric.isin(HEADLINE_METRICS)]
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
    wide["config"] = [point_config(f, t, l, results.groups) for f, t, l in zip(wide.family, wide.target, wide.lam)]
    # a constant predictor sits at zero unfairness and would look best: drawn apart, never on the front
    def key(f, t, lam):
        return f, t, -1.0 if pd.isna(lam) else round(float(lam), 9)

    bad = degenerate_points(full)
    reasons = {key(f, t, l): r for f, t, l, r in zip(bad.family, bad.target, bad.lam, bad.reason)}
    wide["degenerate_reason"] = [reasons.get(key(f, t, l), "") for f, t, l in zip(wide.family, wide.target, wide.lam)]
    wide["degenerate"] = wide["degenerate_reason"] != ""
    ok = ~wide["degenerate"].to_numpy()
    front = np.zeros(len(wide), dtype=bool)
    if ok.any():
        front[ok] = pareto_mask(wide["accuracy"].to_numpy()[ok], wide[unfairness].to_numpy()[ok])
    wide["pareto_estimate"] = front
    # the front that knows its noise: each stored point's share of paired resamples on the front
    share = front_shares(results, split=split, unfairness=unfairness,
                         skip={point_key(f, t, l) for f, t, l in zip(bad.family, bad.target, bad.lam)})
    wide["front_share"] = [0.0 if d else share.get(point_key(f, t, l), np.nan)   # a constant predictor: never on it
                           for f, t, l, d in zip(wide.family, wide.target, wide.lam, wide.degenerate)]
    known = wide["front_share"].notna().to_numpy()
    wide["pareto"] = np.where(known, wide["front_share"].fillna(0).to_numpy() >= FRONT_SHARE, front) & ok
    return wide.reset_index(drop=True)


FRONT_SHARE = 0.5   # a point is drawn on the front when it is there in at least half the resamples
CANDIDATE = ("candidate", "", None)


def candidate_evidence(results: RunResults, margins: dict[int, np.ndarray], *, split: str = "test",
                       n_boot: int = N_BOOT) -> dict[str, float]:
    """A configuration evaluated outside the run (``margins``: seed -> margins on ``split``) against
    the stored points under the same resamples: its share of resamples on the Pareto front of
    every stored non-degenerate point (worst DPD and worst EOD), and its paired differences from FFT
    with 95% intervals (``… − FFT``, ``… low``/``… high``)."""
    bad = degenerate_keys(results)
    sets = point_sets(results, split=split, n_boot=n_boot, extra={s: {CANDIDATE: m} for s, m in margins.items()},
                      seeds=tuple(int(s) for s in margins))
    out: dict[str, float] = {}
    first = next(iter(sets.values()))
    keys = [k for k in first.keys if all(s.has(k) for s in sets.values())
            and not any((s.seed, k) in bad for s in sets.values())]
    for unf, name in (("worst_dpd", "worst DPD"), ("worst_eod", "worst EOD")):
        share = front_membership(*_replicates(sets, keys, ("accuracy", unf)))
        out[f"{split} front share ({name})"] = float(share[keys.index(CANDIDATE)])
    fft = point_key("fft")
    for metric in ("accuracy", "worst_dpd", "worst_eod"):
        iv = contrast(list(sets.values()), lambda s: {CANDIDATE: 1.0, fft: -1.0} if s.has(fft) else None, metric)
        out[f"{split} {metric} − FFT"], out[f"{split} {metric} − FFT low"], out[f"{split} {metric} − FFT high"] = \
            iv.estimate, iv.low, iv.high
    return out


def front_shares(results: RunResults, *, split: str = "test", unfairness: str = "worst_dpd",
                 skip: set = frozenset(), n_boot: int = N_BOOT) -> dict[tuple, float]:
    """Per stored point (key of :func:`~taskfair.steering.evidence.point_key`) evaluated in every
    seed, the share of paired resamples (two-level across seeds) in which it is on the Pareto front
    of accuracy against ``unfairness``; ``skip``: (family, target, λ) of points never on it."""
    sets = point_sets(results, split=split, n_boot=n_boot)
    if not sets:
        return {}
    first = next(iter(sets.values()))
    keys = [k for k in first.keys if all(s.has(k) for s in sets.values()) and k not in skip]
    if not keys:
        return {}
    return dict(zip(keys, front_membership(*_replicates(sets, keys, ("accuracy", unfairness))).tolist()))


def _replicates(sets, keys, metrics) -> list[np.ndarray]:
    """Per metric, the two-level replicates ``[B, len(keys)]`` of each point's mean over seeds."""
    axes = []
    for metric in metrics:
        cols = []
        for k in keys:
            vals = [(s.series(metric)[0][s.index(k)], s.series(metric)[1][:, s.index(k)]) for s in sets.values()]
            cols.append(combine([v for v, _ in vals], [r for _, r in vals]).reps)
        axes.append(np.stack(cols, axis=1))
    return axes


def health_warnings(results: RunResults) -> list[dict]:
    """The headline's degenerate models (constant, or no better than the majority class), for banners: FFT, LoRA, each subgroup model and
    task addition at the chosen λ, with the seeds and the reason (empty for a healthy run, and for
    runs stored before the check)."""
    bad = degenerate_points(results.metrics)
    out = []
    for family, name in (("fft", "FFT"), ("lora", "LoRA"), ("subgroup", None)):
        part = bad[bad.family == family]
        for target, rows in part.groupby("target", sort=False):
            label = name or f"the {target} model"
            out.append({"method": label, "seeds": sorted({int(s) for s in rows.seed}),
                        "reason": rows.reason.iloc[0]})
    chosen = results.summary.get("chosen_lambda", {})
    ta = [r for r in bad[bad.family == "uniform"].itertuples()
          if any(int(s) == int(r.seed) and np.isclose(lam, r.lam) for s, lam in chosen.items())]
    if ta:
        out.append({"method": "task addition (chosen λ)", "seeds": sorted({int(r.seed) for r in ta}),
                    "reason": ta[0].reason})
    return out


def thresholds_against_merges(points: pd.DataFrame, unfairness: str = "worst_dpd", *,
                              results: RunResults | None = None, split: str = "test", alpha: float = 0.05) -> str:
    """One plain sentence on how the per-group threshold points of :func:`frontier_points`
    compare with the merges (every point that is not thresholds, FFT, LoRA, θ0 or a subgroup's own
    model). The best threshold point (the one that beats the most merges on the estimates) is
    then tested against every merge with ``results``: paired differences of accuracy and of
    ``unfairness`` under the same resamples, "better" meaning significantly more accurate *and*
    significantly fairer (both at α; Holm over the merges). Without ``results`` the sentence
    counts point estimates and says so. "" when there are no threshold points."""
    ok = points[~points.get("degenerate", False)]
    thr = ok[ok.family == "thresholds"]
    merges = ok[~ok.family.isin(["thresholds", "fft", "lora", "base", "subgroup"])]
    if not len(thr) or not len(merges):
        return ""
    name = {"worst_dpd": "worst DPD", "worst_eod": "worst EOD"}.get(unfairness, unfairness)
    acc, unf = merges["accuracy"].to_numpy(), merges[unfairness].to_numpy()
    best, best_n = None, -1
    for r in thr.itertuples():
        n = int(((getattr(r, "accuracy") >= acc) & (getattr(r, unfairness) <= unf)).sum())
        if n > best_n:
            best, best_n = r, n
    what = f"{best.label} (accuracy {best.accuracy:.3f}, {name} {getattr(best, unfairness):.3f})"
    front = merges[merges.pareto] if "pareto" in merges else merges.iloc[:0]
    tested = (_thresholds_tested(results, best.target, merges, unfairness, split, alpha, len(thr))
              if results is not None else None)
    if tested is None:
        if best_n == len(merges):
            return (f"Negative result for weight steering: {what} is at least as accurate and as fair as every one of "
                    f"the {len(merges)} merges on this split (point estimates). " + _CAVEAT)
        return (f"{what} is more accurate and fairer than {best_n} of the {len(merges)} merges (point estimates); "
                f"{len(front)} merge(s) stay on the Pareto front beside the thresholds. " + _CAVEAT)
    better, worse, m = tested
    test = (f"(paired differences on the same resampled examples, each significantly more accurate and fairer at "
            f"{alpha:.0%}, Holm-corrected over the {m} merges and Bonferroni over the {len(thr)} threshold points "
            "it was picked from)")
    if better == m:
        return (f"Negative result for weight steering: {what} is significantly more accurate and fairer than every "
                f"one of the {m} merges on this split (paired differences on the same resampled examples, each at "
                f"{alpha:.0%}: a claim about all of them needs every test to pass, no correction). " + _CAVEAT)
    return (f"{what} is significantly more accurate and fairer than {better} of the {m} merges {test}; on the "
            f"estimates it beats {best_n}; {worse} merge(s) are significantly better than it on one axis; "
            f"{len(front)} merge(s) stay on the Pareto front beside the thresholds. " + _CAVEAT)


def _thresholds_tested(results: RunResults, target: str, merges: pd.DataFrame, unfairness: str, split: str,
                       alpha: float, n_picked: int = 1) -> tuple[int, int, int] | None:
    """(merges the threshold point ``target`` is significantly better than on both axes, merges
    significantly better than it on one, merges compared); None when its decisions cannot be had."""
    from .thresholds import split_thresholds, threshold_predictions
    try:
        spec, constraint = split_thresholds(str(target))
        extra = {s: {("thresholds", str(target), None): np.where(
            threshold_predictions(results, spec, constraint, s)[0][split], 1.0, -1.0)} for s in results.seeds}
    except (KeyError, ValueError):
        return None
    sets = point_sets(results, split=split, extra=extra, n_boot=N_BOOT_TESTS)   # Holm over ~100 merges
    key = ("thresholds", str(target), None)
    p_both, p_worse, compared = [], [], 0
    for f, t, lam in zip(merges.family, merges.target, merges.lam):
        k = point_key(f, t, lam)
        if not all(s.has(k) for s in sets.values()):
            continue
        compared += 1
        w = lambda s, k=k: {key: 1.0, k: -1.0}   # noqa: E731 - thresholds minus the merge
        a, u = contrast(list(sets.values()), w, "accuracy"), contrast(list(sets.values()), w, unfairness)
        # more accurate and fairer: both; × the threshold points the best was picked from (on this split)
        p_both.append(min(1.0, n_picked * max(a.p_at_most(0.0), u.p_at_least(0.0))))
        p_worse.append(min(a.p_at_least(0.0), u.p_at_most(0.0)) * 2)   # either axis worse
    if not compared:
        return None
    every = all(p <= alpha for p in p_both)   # better than every merge: each at α (intersection–union)
    return int((holm(p_both) <= alpha).sum()) if not every else compared, int((holm(p_worse) <= alpha).sum()), compared


def _label(family: str, target: str, lam: float) -> str:
    if family == "thresholds":
        base, _, c = str(target).partition("@")
        kind, _, lam = base.partition(":")
        name = {"base": "θ0", "fft": "FFT", "lora": "LoRA"}.get(base) or (
            f"task addition λ={lam}" if kind == "uniform" else base)
        return f"{name} + thresholds ({c.upper()})"
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
    if family in grid_methods():
        return f"{method_spec(family).label} λ={lam:.2f}"
    if family == "probe":
        return f"random remix {target}"
    return f"{lam:.2f}·τ_{target}"
