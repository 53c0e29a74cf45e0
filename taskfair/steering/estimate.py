"""Instant estimates of a per-subgroup merge ``θ0 + Σ λ_g τ_g`` from stored margins, without
running the model.

First order: each subgroup's own axis ``θ0 + λ τ_g`` was evaluated on a grid, so the margin
change it causes is interpolated in λ_g and the changes are added:
``m(λ) ≈ m0 + Σ_g [a_g(λ_g) − m0]``.

Kernel correction (the default): every other stored point of the form ``θ0 + Σ λ_g τ_g`` (the
uniform sweep, the pair points, the random probes, see ``grids.pairs``/``grids.probes``) shows how
far the first-order sum is from the truth there, per example. That gap is modelled in two parts:
the second-order interaction of each pair of subgroups, ``Σ_{g<h} c_gh λ_g λ_h`` per example
(least squares, lightly ridged; the pair points pin it down), and what remains, interpolated over
the λ space with a Gaussian kernel (kernel ridge regression, one solve shared by every example;
the length scale chosen by closed-form leave-one-out error on the stored points). At a stored
point the stored margins are returned. On the embedded default the pairwise term cut the EOD error on held-out λ
from 0.027 to 0.024 (BENCHMARKS.md).

Diagonal correction (the older alternative, kept for comparison): the gap along the uniform sweep
read at the diagonal point with the same pairwise mass ``Σ_{g<h} λ_g λ_h``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..metrics.fairness import HEADLINE_METRICS, GroupRates, bootstrap_counts, group_rates
from ..metrics.health import is_degenerate
from ..metrics.tables import rates_columns, rates_with_ci, seed_mean_aligned, seed_mean_columns
from ..store.results import SeedResults

__all__ = ["interp_rows", "RemixEstimator", "remix_metrics", "remix_health", "expected_error"]


def interp_rows(grid: np.ndarray, rows: np.ndarray, x: float) -> np.ndarray:
    """Piecewise-linear interpolation of ``rows [J, N]`` sampled at ``grid [J]`` (ascending),
    extrapolated linearly from the end segments."""
    if len(grid) == 1:
        return rows[0]
    j = int(np.clip(np.searchsorted(grid, x, side="right") - 1, 0, len(grid) - 2))
    w = (x - grid[j]) / (grid[j + 1] - grid[j])
    return rows[j] + w * (rows[j + 1] - rows[j])


METHODS = ("kernel", "diagonal", "first_order")
LENGTH_SCALES = (0.4, 0.6, 0.8, 1.0, 1.4, 2.0)
PAIR_RIDGE = 1e-2  # keeps the pairwise fit stable when few points mix a pair
KERNEL_JITTER = 1e-6  # added to the kernel matrix's diagonal (a stored point repeated stays solvable)


@dataclass
class RemixEstimator:
    """Estimates margins of ``θ0 + Σ λ_g τ_g`` for one seed and split from its stored predictions.

    Args:
        results: the seed's stored predictions.
        split: ``val`` (for choosing) or ``test`` (for reporting).
        method: ``kernel`` (default), ``diagonal`` or ``first_order``; see the module docstring.
        length_scale: the kernel's, in λ units; ``None`` chooses it by leave-one-out error.
    """

    results: SeedResults
    split: str = "test"
    method: str = "kernel"
    length_scale: float | None = None

    def __post_init__(self) -> None:
        r, s = self.results, self.split
        self.groups = r.groups
        self.base = r.single("base", split=s).astype(np.float64)
        self.axes = []
        for g in self.groups:
            grid, rows = r.margins("axis", g, s)
            own = r.single("subgroup", g, s)
            if 1.0 not in grid:  # the subgroup model itself is the axis at λ = 1
                grid, rows = np.append(grid, 1.0), np.vstack([rows, own])
            if 0.0 not in grid:
                grid, rows = np.append(grid, 0.0), np.vstack([rows, self.base])
            order = np.argsort(grid)
            self.axes.append((grid[order], rows[order].astype(np.float64) - self.base))
        ugrid, urows = r.margins("uniform", "", s)
        k = len(self.groups)
        first = np.stack([self._first_order([t] * k) for t in ugrid])
        self.diag_grid = ugrid
        self.residual = urows.astype(np.float64) - first  # [J, N], interaction along the diagonal
        self.labels, self.masks = r.labels[s], r.masks[s]
        if self.method not in METHODS:
            raise ValueError(f"unknown estimate method {self.method!r}; choose from {METHODS}")
        self.anchors = np.zeros((0, k))
        self._stored: dict[tuple, np.ndarray] = {}
        self.pair_coef = np.zeros((0, len(self.labels)))
        if self.method == "kernel":
            lams, rows = r.subgroup_space(s)
            self.anchors = lams
            # at a stored point the stored margins are returned as they are: the kernel solve
            # interpolates only up to its jitter, which could flip a label sitting at the boundary
            self._stored = {tuple(np.round(l, 6)): m for l, m in zip(lams, rows)}
            if len(lams):
                self.pair_coef, resid = self._fit_pairs(lams, rows)
                self.length_scale, self.alpha, self.loo_error = self._fit(lams, resid)

    def _fit_pairs(self, lams: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pairwise interaction coefficients fitted to the stored points, and what remains."""
        resid = rows - np.stack([self._first_order(l) for l in lams])
        F = self._pair_features(lams)
        if not (F.shape[1] and len(lams) >= F.shape[1]):
            return np.zeros((0, rows.shape[1])), resid
        coef = np.linalg.solve(F.T @ F + PAIR_RIDGE * np.eye(F.shape[1]), F.T @ resid)
        return coef, resid - F @ coef

    def loo_margins(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(λ [T, K], estimated [T, N], stored [T, N])`` at the stored points that mix subgroups
        (the uniform sweep, pairs, probes), each estimated with that point left out (the pairwise
        term and the kernel refitted on the other points; the length scale kept)."""
        lams, rows = self.results.subgroup_space(self.split)
        if self.method != "kernel" or not len(lams):
            return np.zeros((0, len(self.groups))), np.zeros((0, len(self.labels))), np.zeros((0, len(self.labels)))
        mixing = np.flatnonzero((np.abs(lams) > 0).sum(axis=1) >= 2)
        est = []
        for i in mixing:
            keep = np.arange(len(lams)) != i
            coef, resid = self._fit_pairs(lams[keep], rows[keep])
            alpha = np.linalg.solve(self._gram(lams[keep], self.length_scale), resid)
            m = self._first_order(lams[i])
            if len(coef):
                m = m + (self._pair_features(lams[i]) @ coef)[0]
            est.append(m + (self._kernel(lams[i][None, :], lams[keep], self.length_scale) @ alpha)[0])
        est = np.stack(est) if est else np.zeros((0, len(self.labels)))
        return lams[mixing], est, rows[mixing]

    def expected_error(self) -> dict[str, float]:
        """How far the estimate is likely to be off, per headline metric (``accuracy``,
        ``macro_accuracy``, ``worst_dpd``, ``worst_eod``): the mean absolute error of the
        metrics at the points of :meth:`loo_margins`. Empty when fewer than three are stored."""
        cached = self.__dict__.get("_expected")
        if cached is None:
            _, est, true = self.loo_margins()
            cached = {}
            if len(est) >= 3:
                got = group_rates(est > 0, self.labels, self.masks)
                want = group_rates(true > 0, self.labels, self.masks)
                for name, attr in (("accuracy", "overall_accuracy"), ("macro_accuracy", "macro_accuracy"),
                                   ("worst_dpd", "worst_dpd"), ("worst_eod", "worst_eod")):
                    diff = np.asarray(getattr(got, attr), float) - np.asarray(getattr(want, attr), float)
                    cached[name] = float(np.nanmean(np.abs(diff)))
            self.__dict__["_expected"] = cached
        return dict(cached)

    def _pair_features(self, lams: np.ndarray) -> np.ndarray:
        """``λ_g λ_h`` for every pair ``g < h``: ``[T, K(K−1)/2]``."""
        lams = np.atleast_2d(lams)
        g, h = np.triu_indices(lams.shape[1], k=1)
        return lams[:, g] * lams[:, h]

    def _kernel(self, a: np.ndarray, b: np.ndarray, ell: float) -> np.ndarray:
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * ell * ell))

    def _gram(self, lams: np.ndarray, ell: float) -> np.ndarray:
        """The kernel matrix of the stored points, with the jitter that keeps it invertible."""
        K = self._kernel(lams, lams, ell)
        K[np.diag_indices_from(K)] += KERNEL_JITTER
        return K

    def _fit(self, lams: np.ndarray, resid: np.ndarray) -> tuple[float, np.ndarray, float]:
        """Kernel ridge weights; the length scale with the least leave-one-out squared error
        (closed form: the LOO residual of point i is ``α_i / (K⁻¹)_ii``)."""
        candidates = [self.length_scale] if self.length_scale else LENGTH_SCALES
        best = None
        for ell in candidates:
            K = self._gram(lams, ell)
            inv = np.linalg.inv(K)
            alpha = np.linalg.solve(K, resid)  # more accurate than inv @ resid when K is ill-conditioned
            loo = float(np.mean((alpha / np.diag(inv)[:, None]) ** 2))
            if best is None or loo < best[2]:
                best = (ell, alpha, loo)
        return best

    def _first_order(self, lams: Sequence[float]) -> np.ndarray:
        out = self.base.copy()
        for (grid, deltas), lam in zip(self.axes, lams):
            out += interp_rows(grid, deltas, float(lam))
        return out

    def margins(self, lams: Sequence[float]) -> np.ndarray:
        lams = np.asarray(lams, dtype=np.float64)
        if lams.shape != (len(self.groups),):
            raise ValueError(f"need {len(self.groups)} coefficients ({list(self.groups)}), got {lams.shape}")
        if not np.isfinite(lams).all():
            raise ValueError(f"coefficients must be finite numbers, got {lams.tolist()}")
        stored = self._stored.get(tuple(np.round(lams, 6)))
        if stored is not None:
            return stored.copy()
        out = self._first_order(lams)
        k = len(lams)
        if self.method == "kernel" and len(self.anchors):
            if len(self.pair_coef):
                out += (self._pair_features(lams) @ self.pair_coef)[0]
            out += (self._kernel(lams[None, :], self.anchors, self.length_scale) @ self.alpha)[0]
        elif self.method == "diagonal" and k > 1:
            pair_mass = (lams.sum() ** 2 - (lams ** 2).sum()) / 2
            s = np.sqrt(max(pair_mass, 0.0) / (k * (k - 1) / 2))
            out += interp_rows(self.diag_grid, self.residual, float(s))
        return out

    def is_stored(self, lams: Sequence[float]) -> bool:
        """Whether ``lams`` is a stored point (its estimate is then the stored margins, exact)."""
        return tuple(np.round(np.asarray(lams, dtype=np.float64), 6)) in self._stored

    def resamples(self, n_boot: int) -> np.ndarray:
        """Bootstrap resample counts of this split's examples, drawn once per size and reused."""
        cache = self.__dict__.setdefault("_resamples", {})
        if n_boot not in cache:
            cache[n_boot] = bootstrap_counts(len(self.labels), n_boot, seed=self.results.seed)
        return cache[n_boot]

    def rates(self, lams: Sequence[float]) -> GroupRates:
        return group_rates(self.margins(lams) > 0, self.labels, self.masks)


def remix_metrics(estimators: Sequence[RemixEstimator], lams: Sequence[float], *,
                  n_boot: int = 200) -> pd.DataFrame:
    """Estimated metrics of ``θ0 + Σ λ_g τ_g``, averaged over seeds (one estimator per seed), with
    95% bootstrap intervals over the examples (the same ``n_boot`` resamples at every λ)."""
    return metrics_of(estimators, [e.margins(lams) > 0 for e in estimators], n_boot=n_boot)


def metrics_of(estimators: Sequence[RemixEstimator], preds: Sequence[np.ndarray], *, n_boot: int = 200) -> pd.DataFrame:
    """:func:`remix_metrics` from each seed's estimated predictions, already computed."""
    if not n_boot and len({tuple(e.groups) for e in estimators}) == 1:
        # a slider move: the seed mean on arrays, one frame built (the same frame as below)
        cols = [rates_columns(group_rates(p, e.labels, e.masks), e.groups) for e, p in zip(estimators, preds)]
        return seed_mean_columns({"group": cols[0]["group"], "metric": cols[0]["metric"]},
                                 np.stack([c["value"] for c in cols]), [c["note"] for c in cols])
    frames = [rates_with_ci(p, e.labels, e.masks, e.groups,
                            counts=e.resamples(n_boot) if n_boot else None).assign(seed=e.results.seed)
              for e, p in zip(estimators, preds)]
    return seed_mean_aligned(frames, ["group", "metric"])


def remix_health(estimators: Sequence[RemixEstimator], lams: Sequence[float]) -> str:
    """Why the estimated ``θ0 + Σ λ_g τ_g`` is a constant predictor (or no better than the majority
    class) in some seed, or "" when it is not: its fairness numbers would then mean nothing."""
    return degenerate_of(estimators, [e.margins(lams) > 0 for e in estimators])


def degenerate_of(estimators: Sequence[RemixEstimator], preds: Sequence[np.ndarray]) -> str:
    """:func:`remix_health` from each seed's estimated predictions, already computed."""
    for e, p in zip(estimators, preds):
        why = is_degenerate(p, e.labels)
        if why:
            return f"seed {e.results.seed}: {why}"
    return ""


def expected_error(estimators: Sequence[RemixEstimator], lams: Sequence[float] | None = None) -> dict[str, float]:
    """:meth:`RemixEstimator.expected_error`, averaged over the seeds' estimators; at a stored
    point (``lams``, every seed) the estimate is exact: zero."""
    if lams is not None and estimators and all(e.is_stored(lams) for e in estimators):
        return {k: 0.0 for k in HEADLINE_METRICS}
    parts = [e.expected_error() for e in estimators]
    keys = set().union(*parts) if parts else set()
    return {k: float(np.mean([p[k] for p in parts if k in p])) for k in sorted(keys)}
