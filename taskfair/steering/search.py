"""Automatic coefficient search: per-subgroup λ vectors that maximise validation accuracy under
bounds on worst-case DPD and EOD (or, with no bounds, the whole accuracy–fairness Pareto front).
A candidate that predicts one class for ≥97% of validation examples, or does not beat the majority
class, is never returned (a constant predictor is trivially fair).

The search runs on the instant estimate (thousands of candidates per second: random points in
the run's λ range (``grids.lam_range``, default [−1, 1.5]: negative λ subtract a subgroup's
vector), the uniform diagonal, then local refinement around the best), on the validation split
only. Candidates outside the stored points are marked ``extrapolated``: their estimate is least
reliable, and confirming them exactly matters most. The best candidates are then confirmed by exact evaluation (merge and run the model) on
validation and test, reported side by side so that overfitting to validation shows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..metrics.fairness import ALL, HEADLINE_METRICS, group_rates, summary_metrics
from ..metrics.frontier import hypervolume, pareto_mask
from ..metrics.tables import seed_mean
from .views import candidate_evidence
from ..metrics.health import beats_majority, is_constant, majority_rate
from ..store.results import RunResults
from .estimate import RemixEstimator

__all__ = ["SearchResult", "search_coefficients", "confirm", "FrontCheck", "check_front", "UNFAIRNESS"]

# the search ranks candidates by accuracy against max(worst DPD, worst EOD)
UNFAIRNESS = "max(worst DPD, worst EOD)"


@dataclass(frozen=True)
class SearchResult:
    candidates: pd.DataFrame   # every evaluated candidate: λ columns, val estimates, feasible, pareto
    best: pd.DataFrame         # the chosen candidates (feasible, best val accuracy / on the front)
    groups: tuple[str, ...]
    max_dpd: float | None
    max_eod: float | None


def _estimate(estimators, L: np.ndarray) -> dict[str, np.ndarray]:
    """Validation metrics of every row of ``L`` [T, K], mean over seeds."""
    out, degenerate = {}, np.zeros(len(L), dtype=bool)
    for est in estimators:
        M = np.stack([est.margins(l) for l in L])
        r = group_rates(M > 0, est.labels, est.masks)
        s = summary_metrics(r)
        for k in HEADLINE_METRICS:
            out.setdefault(k, []).append(s[k])
        # a constant predictor (or one no better than the majority class) is trivially fair
        degenerate |= is_constant((M > 0).mean(axis=1)) | ~beats_majority(s["accuracy"], majority_rate(est.labels))
    res = {k: np.nanmean(np.stack(v), axis=0) for k, v in out.items()}
    res["degenerate"] = degenerate.astype(float)
    return res


def search_coefficients(results: RunResults, *, max_dpd: float | None = None, max_eod: float | None = None,
                        n_random: int = 3000, rounds: int = 3, top: int = 5, seed: int = 0,
                        lam_range: tuple[float, float] | None = None) -> SearchResult:
    """Search per-subgroup λ in ``lam_range`` (default: the run's) on the validation estimate."""
    from ..config import LAM_MAX
    from .configurations import lam_range as run_range
    for name, b in (("max_dpd", max_dpd), ("max_eod", max_eod)):
        if b is not None and not (np.isfinite(b) and b >= 0):
            raise ValueError(f"{name} must be a number ≥ 0, got {b}")
    lo, hi = lam_range if lam_range is not None else run_range(results)
    if not (np.isfinite(lo) and np.isfinite(hi) and -LAM_MAX <= lo < hi <= LAM_MAX):
        raise ValueError(f"the λ range must be low < high within ±{LAM_MAX:g}, got [{lo:g}, {hi:g}]")
    k = len(results.groups)
    ests = [RemixEstimator(sr, "val") for sr in results.seeds.values()]
    rng = np.random.default_rng(seed)
    L = np.vstack([rng.uniform(lo, hi, (n_random, k)),
                   np.repeat(np.linspace(max(lo, 0.0) if hi > 0 else lo, hi, 21)[:, None], k, axis=1)])
    scores = _estimate(ests, L)

    def feasible(s):
        ok = s["degenerate"] == 0  # never a constant predictor, however fair it looks
        if max_dpd is not None:
            ok &= s["worst_dpd"] <= max_dpd
        if max_eod is not None:
            ok &= s["worst_eod"] <= max_eod
        return ok

    step = 0.15 * (hi - lo)
    for _ in range(rounds):  # local refinement around the best feasible points
        ok = feasible(scores)
        if not ok.any():
            break
        order = np.argsort(-np.where(ok, scores["accuracy"], -np.inf))[:20]
        local = np.clip(np.repeat(L[order], 25, axis=0) + rng.normal(0, step, (len(order) * 25, k)), lo, hi)
        new = _estimate(ests, local)
        L = np.vstack([L, local])
        scores = {m: np.concatenate([scores[m], new[m]]) for m in scores}
        step /= 2
    df = pd.DataFrame(np.round(L, 3) + 0.0, columns=[f"λ {g}" for g in results.groups])
    for m, v in scores.items():
        df[f"val {m} (estimate)"] = v
    df["feasible"] = feasible(scores)
    from .configurations import outside_stored
    stored = next(iter(results.seeds.values())).subgroup_lams()
    # where the estimate extrapolates, for the λ as shown (rounded)
    df["extrapolated"] = outside_stored(stored, df[[f"λ {g}" for g in results.groups]].to_numpy(dtype=float))
    unf = np.maximum(df["val worst_dpd (estimate)"], df["val worst_eod (estimate)"]).to_numpy()
    df["pareto"] = False
    if df.feasible.any():
        f = df.feasible.to_numpy()
        mask = np.zeros(len(df), dtype=bool)
        mask[f] = pareto_mask(df.loc[f, "val accuracy (estimate)"].to_numpy(), unf[f])
        df["pareto"] = mask
    df = df.drop_duplicates(subset=[f"λ {g}" for g in results.groups]).reset_index(drop=True)
    if max_dpd is None and max_eod is None:
        best = df[df.pareto].sort_values("val accuracy (estimate)", ascending=False)
    else:
        best = df[df.feasible].sort_values("val accuracy (estimate)", ascending=False).head(top)
    return SearchResult(df, best.reset_index(drop=True), results.groups, max_dpd, max_eod)


def confirm(results: RunResults, result: SearchResult, *, n: int = 3, progress=None,
            n_boot: int = 200) -> pd.DataFrame:
    """Exact evaluation of the first ``n`` chosen candidates on validation and test (mean over
    seeds): the validation figures the choice was made on, beside the test figures to report,
    each with its 95% bootstrap interval over the examples (``… low`` / ``… high``; ``n_boot=0``
    leaves them out)."""
    from .exact import exact_metrics, load_theta0

    run = results.open_run()
    lam_cols = [f"λ {g}" for g in result.groups]
    rows = []
    bases = {s: load_theta0(run, s) for s in results.seeds}
    picked = result.best.head(n)
    for i, (_, cand) in enumerate(picked.iterrows()):
        lams = cand[lam_cols].to_numpy(dtype=float)
        margins: dict = {}
        t = exact_metrics(results, lams, splits=("val", "test"), n_boot=n_boot, bases=bases, keep_margins=margins)
        t = t[(t.group == ALL) & t.metric.isin(["accuracy", "worst_dpd", "worst_eod"])]
        per = {}
        # mean over seeds; the interval of that mean includes seed-to-seed variation (seed_interval)
        for r in seed_mean(t, ["split", "metric"]).itertuples():
            per[f"{r.split} {r.metric} (exact)"] = float(r.mean)
            if n_boot:
                per[f"{r.split} {r.metric} (exact) low"], per[f"{r.split} {r.metric} (exact) high"] = float(r.low), float(r.high)
        per.update(candidate_evidence(results, {s: m["test"] for s, m in margins.items()}, split="test"))
        row = {c: cand[c] for c in lam_cols}
        row.update({f"val {m} (estimate)": cand[f"val {m} (estimate)"] for m in ("accuracy", "worst_dpd", "worst_eod")})
        row.update(per)
        feasible = True
        if result.max_dpd is not None:
            feasible &= row["val worst_dpd (exact)"] <= result.max_dpd
        if result.max_eod is not None:
            feasible &= row["val worst_eod (exact)"] <= result.max_eod
        row["meets bounds (val, exact)"] = bool(feasible)
        row["meets bounds (test, exact)"] = bool(
            (result.max_dpd is None or row["test worst_dpd (exact)"] <= result.max_dpd)
            and (result.max_eod is None or row["test worst_eod (exact)"] <= result.max_eod))
        rows.append(row)
        if progress:
            progress((i + 1) / len(picked))
    return pd.DataFrame(rows)



@dataclass(frozen=True)
class FrontCheck:
    """The estimated validation front beside the same λ evaluated exactly."""

    points: pd.DataFrame        # λ, accuracy/unfairness estimated and exact, on each front
    hv_estimate: float          # hypervolume of the estimated front
    hv_exact: float             # hypervolume of the same points, evaluated exactly
    reference: tuple[float, float]   # (accuracy, unfairness) of the reference corner
    mean_gap: dict[str, float]  # mean |estimate − exact| per axis

    @property
    def hv_gap(self) -> float:
        """How much of the estimated front's hypervolume the exact evaluation loses (a share)."""
        return (self.hv_estimate - self.hv_exact) / self.hv_estimate if self.hv_estimate > 0 else float("nan")


def _spread(front: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most ``n`` points of a front, evenly spaced along its unfairness."""
    front = front.sort_values("unf").reset_index(drop=True)
    if len(front) <= n:
        return front
    return front.iloc[np.unique(np.round(np.linspace(0, len(front) - 1, n)).astype(int))]


def check_front(results: RunResults, result: SearchResult, *, n: int = 8, progress=None) -> FrontCheck:
    """Evaluate exactly (on validation, where the search ran) up to ``n`` points of the search's
    estimated Pareto front (accuracy against max(worst DPD, worst EOD); spread evenly along it),
    and compare the two fronts: each point estimated and exact, whether it stays on the exact
    front, the hypervolume of each front against a common reference corner (the lowest accuracy
    and highest unfairness among all these points) and the mean gap per axis."""
    from .exact import exact_metrics, load_theta0

    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    c = result.candidates
    front = c[c.pareto].assign(
        acc=c["val accuracy (estimate)"],
        unf=np.maximum(c["val worst_dpd (estimate)"], c["val worst_eod (estimate)"]))
    if front.empty:
        raise ValueError("the search has no estimated front to check (no feasible candidate)")
    picked = _spread(front, n)
    lam_cols = [f"λ {g}" for g in result.groups]
    run = results.open_run()
    bases = {s: load_theta0(run, s) for s in results.seeds}
    rows = []
    for i, (_, cand) in enumerate(picked.iterrows()):
        t = exact_metrics(results, cand[lam_cols].to_numpy(dtype=float), splits=("val",), bases=bases)
        t = t[t.group == ALL].groupby("metric").value.mean()
        rows.append({**{k: cand[k] for k in lam_cols}, "extrapolated": bool(cand.get("extrapolated", False)),
                     "accuracy (estimate)": cand.acc, "unfairness (estimate)": cand.unf,
                     "accuracy (exact)": float(t["accuracy"]),
                     "unfairness (exact)": float(np.maximum(t["worst_dpd"], t["worst_eod"]))})
        if progress:
            progress((i + 1) / len(picked))
    pts = pd.DataFrame(rows)
    pts["on the exact front"] = pareto_mask(pts["accuracy (exact)"].to_numpy(), pts["unfairness (exact)"].to_numpy())
    acc_all = np.concatenate([pts["accuracy (estimate)"], pts["accuracy (exact)"]])
    unf_all = np.concatenate([pts["unfairness (estimate)"], pts["unfairness (exact)"]])
    # a corner a little beyond the worst point, so that every point adds area
    ref = (float(np.nanmin(acc_all)) - 0.01, float(np.nanmax(unf_all)) + 0.01)
    hv_est = hypervolume(pts["accuracy (estimate)"], pts["unfairness (estimate)"], *ref)
    hv_ex = hypervolume(pts["accuracy (exact)"], pts["unfairness (exact)"], *ref)
    gap = {axis: float(np.mean(np.abs(pts[f"{axis} (estimate)"] - pts[f"{axis} (exact)"])))
           for axis in ("accuracy", "unfairness")}
    return FrontCheck(pts, hv_est, hv_ex, ref, gap)
