"""Inference behind every comparison the tool states: paired bootstrap over the evaluation
examples, seed-aware intervals for means over seeds, Holm's correction, and front membership.

**Paired over examples.** For one seed and split, one set of multinomial resample counts
``[B, N]`` is drawn (:func:`resample_counts`, from the seed and the split alone) and shared by
every configuration of that seed: :func:`point_set` computes every metric of ``T`` points under
all ``B`` resamples at once (a few matrix products), so the difference of any metric between two
configurations, or the slope of a metric over a λ grid — any linear *contrast* of points — has
its own interval, from the same resampled examples.

**Across seeds.** Each seed has its own split and its own trained models, so a seed's estimate
varies by its examples (variance ``w_s``, from its bootstrap) and by its training (variance
``σ²``). The interval of the mean over ``S`` seeds is a two-level bootstrap: replicate ``b`` is the
mean of every seed's ``b``-th example replicate (variance ``w̄/S``) plus a seed-level draw
``sqrt(σ̂²/S) · t_b``, where ``σ̂² = max(0, s² − w̄)`` is the seed-to-seed variance ``s²`` of the
seeds' estimates less the part the examples explain (a method-of-moments split of the two
levels) and ``t_b`` follows Student's t on ``S − 1`` degrees of freedom (few seeds estimate ``σ²``
poorly: heavy tails widen the interval). The draw's direction is a multiplier combination of the
seeds' deviations shared by every statistic, so points combined one by one (a front) keep the
correlation of their seed-level errors. Resampling the seeds themselves with replacement was
tried first: with three seeds it has 10 distinct draws, and its lumpy tails never let a
Holm-corrected test reject. With one seed it is the example bootstrap and says *one seed:
seed-to-seed variation not measured*.

**What worst-case metrics leave out.** The worst DPD/EOD of a point is the maximum over the
subgroups whose value is defined at the point estimate; the others (no rows, no positives …) are
named in ``left_out``. A resample in which an included subgroup becomes undefined is dropped
(never silently maxed over the rest); the share dropped is reported, and an interval with drops is
*conditional on every included subgroup being defined*.

Tests of a difference use the percentile bootstrap: the p-value of "the contrast is ≤ x" is the
share of replicates ≤ x (plus one, over B + 1), and a two-sided p-value is twice the smaller
tail. fairlearn's ``MetricFrame`` bootstrap (``n_boot``, ``ci_quantiles``) is the reference for a
single group's interval (the tests compare).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Hashable, Mapping, Sequence

import numpy as np

from .fairness import HEADLINE_METRICS, checked_labels, checked_masks, group_rates

__all__ = ["ALPHA", "N_BOOT", "N_BOOT_TESTS", "PointSet", "Interval", "resample_counts", "point_set", "contrast", "combine",
           "holm", "slope_weights", "front_membership", "ONE_SEED"]

ALPHA = 0.05
N_BOOT = 1000
N_BOOT_TESTS = 4000    # for verdicts: a percentile p-value is at least 2/(B+1), and Holm multiplies the
                       # smallest by the number of comparisons (30 for (d) with five subgroups, ~100 merges)
ONE_SEED = "one seed: seed-to-seed variation not measured"
SUMMARY = HEADLINE_METRICS
PER_GROUP = ("accuracy", "selection_rate", "tpr", "fpr", "dpd", "eod")
_CHUNK = 256            # resamples per matrix product (bounds its output: 256 × 3(G+1)T floats)


def resample_counts(n: int, *, seed: int, split: str, n_boot: int = N_BOOT) -> np.ndarray:
    """Multinomial resample counts ``[n_boot, n]`` for one seed and split: the same for every
    configuration of that seed (a paired bootstrap), reproducible from the seed and split alone."""
    key = int.from_bytes(hashlib.sha256(f"taskfair-bootstrap:{seed}:{split}".encode()).digest()[:8], "little")
    draws = np.random.default_rng(key).integers(0, n, size=(n_boot, n))   # n draws with replacement each
    flat = (draws + (np.arange(n_boot) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float32)


@dataclass(frozen=True)
class PointSet:
    """``T`` configurations of one seed and split, each metric at the point estimate and under
    the seed's ``B`` shared resamples.

    ``value[m]`` is ``[T]`` (summary metrics) or ``[T, G]`` (per group, metric ``m`` of
    :data:`PER_GROUP`, keyed ``"group:" + m``); ``reps[m]`` is ``[B, T]`` / ``[B, T, G]``.
    ``left_out[t][m]`` names the subgroups the worst-case metric ``m`` (``worst_dpd``,
    ``worst_eod``) of point ``t`` leaves out, with why."""

    seed: int
    split: str
    keys: tuple[Hashable, ...]
    groups: tuple[str, ...]
    value: dict[str, np.ndarray]
    reps: dict[str, np.ndarray]
    left_out: tuple[dict[str, dict[str, str]], ...]
    _index: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self._index.update({k: i for i, k in enumerate(self.keys)})

    @property
    def n_boot(self) -> int:
        return next(iter(self.reps.values())).shape[0]

    def index(self, key: Hashable) -> int:
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"seed {self.seed}: no point {key!r} among the {len(self.keys)} evaluated") from None

    def has(self, key: Hashable) -> bool:
        return key in self._index

    def series(self, metric: str, group: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(value [T], reps [B, T])`` of a summary metric, or of one subgroup's metric."""
        if group is None:
            return self.value[metric], self.reps[metric]
        j = self.groups.index(group)
        return self.value["group:" + metric][:, j], self.reps["group:" + metric][:, :, j]


def _ratio(num, den):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _rates(P: np.ndarray, y: np.ndarray, M: np.ndarray, C: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group rates of points ``P [T, N]`` under resample counts ``C [B, N]``: ``[B, T, G]``
    arrays (overall accuracy ``[B, T]``). One matrix product: the counts against every point's
    predictions, true positives and correct answers, inside each group and overall."""
    T, G = P.shape[0], M.shape[0]
    Py = P * y
    correct = Py + (1.0 - P) * (1.0 - y)
    X = np.stack([P, Py, correct])                                            # [3, T, N]
    Z = np.concatenate([(X[:, None] * M[None, :, None, :]), X[:, None]], axis=1)   # [3, G+1, T, N]
    out = []
    for i in range(0, len(C), _CHUNK):
        c = C[i:i + _CHUNK]
        out.append((c @ Z.reshape(-1, Z.shape[-1]).T).reshape(len(c), 3, G + 1, T))
    S = np.concatenate(out).astype(np.float64)                               # [B, 3, G+1, T]
    inside = S[:, :, :G].transpose(0, 1, 3, 2)                               # [B, 3, T, G]
    whole = S[:, :, G][..., None]                                            # [B, 3, T, 1]
    sel_in, tp_in, corr_in = inside[:, 0], inside[:, 1], inside[:, 2]
    sel_all, tp_all, corr_all = whole[:, 0], whole[:, 1], whole[:, 2]
    C64 = C.astype(np.float64)
    n_in, pos_in = (C64 @ M.T)[:, None, :], (C64 @ (M * y).T)[:, None, :]     # [B, 1, G]
    n_all, pos_all = C64.sum(1)[:, None, None], (C64 @ y)[:, None, None]
    neg_in, neg_all = n_in - pos_in, n_all - pos_all
    fp_in, fp_all = sel_in - tp_in, sel_all - tp_all
    sr1, sr0 = _ratio(sel_in, n_in), _ratio(sel_all - sel_in, n_all - n_in)
    tpr1, tpr0 = _ratio(tp_in, pos_in), _ratio(tp_all - tp_in, pos_all - pos_in)
    fpr1, fpr0 = _ratio(fp_in, neg_in), _ratio(fp_all - fp_in, neg_all - neg_in)
    return {"accuracy": _ratio(corr_in, n_in), "selection_rate": sr1, "tpr": tpr1, "fpr": fpr1,
            "dpd": np.abs(sr1 - sr0), "eod": np.maximum(np.abs(tpr1 - tpr0), np.abs(fpr1 - fpr0)),
            "overall": _ratio(corr_all[:, :, 0], n_all[:, :, 0])}


def point_set(pred: np.ndarray, labels: np.ndarray, masks: np.ndarray, groups: Sequence[str], *,
              keys: Sequence[Hashable], seed: int, split: str, counts: np.ndarray | None = None,
              n_boot: int = N_BOOT) -> PointSet:
    """Every metric of the points ``pred [T, N]`` (binary) at the estimate and under the seed's
    shared resamples (``counts`` from :func:`resample_counts`, drawn here when not given)."""
    P = np.atleast_2d(np.asarray(pred)).astype(np.float32)
    y = checked_labels(labels).astype(np.float32)
    M = checked_masks(masks).astype(np.float32)
    if len(keys) != P.shape[0]:
        raise ValueError(f"{len(keys)} keys for {P.shape[0]} points")
    if counts is None:
        counts = resample_counts(P.shape[1], seed=seed, split=split, n_boot=n_boot)
    est = group_rates(P.astype(bool), y, M.astype(bool))
    value = {"group:" + m: getattr(est, m).astype(np.float64) for m in PER_GROUP}
    value["accuracy"] = est.overall_accuracy
    r = _rates(P, y, M, np.asarray(counts, dtype=np.float32))
    reps = {("group:" + m): r[m] for m in PER_GROUP}
    reps["accuracy"] = r["overall"]
    # summaries over the subgroups defined at the estimate; a resample where one of them is
    # undefined is dropped (NaN), never maxed over the rest
    left_out = []
    for t in range(P.shape[0]):
        out = {}
        for metric, per in (("worst_dpd", "dpd"), ("worst_eod", "eod")):
            out[metric] = {g: est.reasons[j] or "undefined" for j, g in enumerate(groups)
                           if np.isnan(value["group:" + per][t, j])}
        left_out.append(out)
    for metric, per, fn in (("worst_dpd", "dpd", np.max), ("worst_eod", "eod", np.max),
                            ("macro_accuracy", "accuracy", np.mean)):
        v, r = value["group:" + per], reps["group:" + per]
        inc = ~np.isnan(v)                                          # [T, G]
        val = np.full(len(v), np.nan)
        rep = np.full(r.shape[:2], np.nan)
        for t in range(len(v)):
            if inc[t].any():
                val[t] = fn(v[t, inc[t]])
                rep[:, t] = fn(r[:, t][:, inc[t]], axis=1)            # NaN propagates: dropped
        value[metric], reps[metric] = val, rep
    return PointSet(int(seed), split, tuple(keys), tuple(groups), value, reps, tuple(left_out))


@dataclass(frozen=True)
class Interval:
    """A statistic (a mean over seeds of a per-seed contrast) with its bootstrap replicates.

    ``estimate`` is the mean over seeds of the point estimates; ``low``/``high`` the percentile
    interval at ``1 - alpha``; ``dropped`` the share of resamples dropped because a compared value
    was undefined there; ``notes`` say what the interval is conditional on."""

    estimate: float
    low: float
    high: float
    reps: np.ndarray
    seeds: int
    dropped: float = 0.0
    notes: tuple[str, ...] = ()
    alpha: float = ALPHA

    @property
    def defined(self) -> bool:
        return bool(np.isfinite(self.estimate)) and np.isfinite(self.reps).any()

    def p_at_most(self, x: float = 0.0) -> float:
        """p-value of "the statistic is ≤ x" (small: it is above x)."""
        r = self.reps[np.isfinite(self.reps)]
        return float((np.sum(r <= x) + 1) / (len(r) + 1)) if self.defined else 1.0

    def p_at_least(self, x: float = 0.0) -> float:
        """p-value of "the statistic is ≥ x" (small: it is below x)."""
        r = self.reps[np.isfinite(self.reps)]
        return float((np.sum(r >= x) + 1) / (len(r) + 1)) if self.defined else 1.0

    def p_two_sided(self, x: float = 0.0) -> float:
        return min(1.0, 2 * min(self.p_at_most(x), self.p_at_least(x)))

    def quantile(self, q: float) -> float:
        r = self.reps[np.isfinite(self.reps)]
        return float(np.quantile(r, q)) if len(r) else float("nan")

    def text(self, fmt: str = "+.3f", *, notes: bool = True) -> str:
        """``estimate [low, high]``, with what the interval is conditional on (``notes``)."""
        if not np.isfinite(self.estimate):
            return "undefined"
        s = f"{self.estimate:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"
        return s + (f" ({'; '.join(self.notes)})" if notes and self.notes else "")


def _seed_draws(n_seeds: int, n_boot: int) -> tuple[np.ndarray, np.ndarray]:
    """The seed level's random draws, fixed so that every statistic of a run shares them (points
    combined one by one then keep the seeds' joint variation): standard normals ``[B, S]`` and a
    scale ``[B]`` that makes each draw Student's t on ``S − 1`` degrees of freedom."""
    rng = np.random.default_rng(20260)
    xi = rng.standard_normal((n_boot, n_seeds))
    df = max(n_seeds - 1, 1)
    return xi, np.sqrt(df / rng.chisquare(df, size=n_boot))


def combine(estimates: Sequence[float], reps: Sequence[np.ndarray], *, alpha: float = ALPHA,
            notes: Sequence[str] = ()) -> Interval:
    """The mean over seeds of per-seed statistics (``estimates [S]``, example replicates
    ``reps [S] × [B]``) with the two-level bootstrap interval (see the module's text). The seed
    level is a multiplier draw ``Σ_s ξ_bs (θ̂_s − θ̄) / ‖θ̂ − θ̄‖``, scaled to ``σ̂/√S`` and made
    Student-t: one standard normal a replicate for a single statistic, and for several statistics
    combined one by one (the points of a front) the same ``ξ``, so their seed-level errors keep
    the correlation the seeds show."""
    est = np.asarray(estimates, dtype=np.float64)
    R = np.stack([np.asarray(r, dtype=np.float64) for r in reps])                # [S, B]
    S, B = R.shape
    if not np.isfinite(est).all():
        return Interval(float("nan"), float("nan"), float("nan"), np.full(B, np.nan), S, 0.0, tuple(notes), alpha)
    with np.errstate(invalid="ignore"):
        combined = R.mean(axis=0)                                              # a drop in any seed drops b
    out = list(notes)
    if S == 1:
        out.append(ONE_SEED)
    else:
        w = np.array([np.nanvar(r, ddof=1) if np.isfinite(r).sum() > 1 else 0.0 for r in R])
        dev = est - est.mean()
        between = max(0.0, float(np.var(est, ddof=1)) - float(w.mean()))
        norm = float(np.sqrt((dev ** 2).sum()))
        if between > 0 and norm > 0:
            xi, scale = _seed_draws(S, B)
            combined = combined + np.sqrt(between / S) * scale * (xi @ dev) / norm
    dropped = float(np.mean(~np.isfinite(combined)))
    ok = np.isfinite(combined)
    lo, hi = (np.quantile(combined[ok], [alpha / 2, 1 - alpha / 2]) if ok.any() else (np.nan, np.nan))
    if dropped > 0:
        out.append(f"conditional on every compared subgroup being defined ({dropped:.1%} of resamples dropped)")
    return Interval(float(est.mean()), float(lo), float(hi), combined, S, dropped, tuple(out), alpha)


def contrast(sets: Sequence[PointSet], weights_of: Callable[[PointSet], Mapping[Hashable, float] | None],
             metric: str, *, group: str | None = None, alpha: float = ALPHA) -> Interval:
    """The mean over seeds of ``Σ_t w_t · metric_t`` (a difference of two points: weights +1/−1;
    a slope over a grid: :func:`slope_weights`), paired within each seed, two-level across seeds.
    ``weights_of(set)`` gives each seed's weights by point key (None: the seed lacks the points and
    is left out)."""
    ests, reps, notes = [], [], []
    for s in sets:
        w = weights_of(s)
        w = {k: v for k, v in (w or {}).items() if v != 0}   # a point with no weight cannot drop a resample
        if not w:
            continue
        value, rep = s.series(metric, group)
        idx = np.array([s.index(k) for k in w])
        wv = np.array(list(w.values()), dtype=np.float64)
        ests.append(float(value[idx] @ wv))
        with np.errstate(invalid="ignore"):
            reps.append(rep[:, idx] @ wv)
        if group is None and metric.startswith("worst_"):
            gone = sorted({f"{g} ({why})" for i in idx for g, why in s.left_out[i].get(metric, {}).items()})
            if gone:
                notes.append("leaves out " + ", ".join(gone))
    if not ests:
        return Interval(float("nan"), float("nan"), float("nan"), np.full(N_BOOT, np.nan), 0, 0.0,
                        ("no seed has these points",), alpha)
    return combine(ests, reps, alpha=alpha, notes=sorted(set(notes)))


def slope_weights(lams: Sequence[float]) -> np.ndarray:
    """Weights ``w`` with ``w @ values`` = the least-squares slope of values against ``lams``."""
    x = np.asarray(lams, dtype=np.float64)
    x = x - x.mean()
    den = float((x ** 2).sum())
    if den == 0:
        raise ValueError("a slope needs at least two distinct λ")
    return x / den


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control; NaN stays NaN)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def front_membership(accuracy: np.ndarray, unfairness: np.ndarray) -> np.ndarray:
    """Per point, the share of replicates (rows of ``accuracy``/``unfairness [B, T]``) in which it
    is on the Pareto front (no other point at least as accurate and as fair, better in one); a
    replicate where a point is undefined counts as off the front for it."""
    A = np.asarray(accuracy, dtype=np.float64)
    U = np.asarray(unfairness, dtype=np.float64)
    ok = np.isfinite(A) & np.isfinite(U)
    Ai, Ui = np.where(ok, A, -np.inf), np.where(ok, U, np.inf)
    on = np.zeros(A.shape, dtype=bool)
    for i in range(0, len(A), 64):
        a, u = Ai[i:i + 64, :, None], Ui[i:i + 64, :, None]                     # point i: [b, T, 1]
        aj, uj = Ai[i:i + 64, None, :], Ui[i:i + 64, None, :]                   # others: [b, 1, T]
        dominated = ((aj >= a) & (uj <= u) & ((aj > a) | (uj < u))).any(axis=2)
        on[i:i + 64] = ~dominated & ok[i:i + 64]
    return on.mean(axis=0)
