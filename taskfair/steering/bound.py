"""The scaling bound: how far a subgroup's DPD and EOD can move along a task vector, from the
margins at a reference point, the step λ′ − λ, the vector's norm and how fast margins change per
unit of parameter displacement.

**The argument.** Along a path ``θ(λ) = θ_a + λ v`` (uniform: ``v = Σ_g τ_g`` from θ0; an axis:
``v = τ_g`` from θ0; an injection: ``v = τ_g`` from θ_FFT), let ``f_i(λ)`` be example i's margin
(the prediction is ``f_i > 0``). If margins change at most ``K`` per unit of displacement,
``|f_i(θ) − f_i(θ′)| ≤ K ‖θ − θ′‖``, then between λ and λ′ the displacement is ``|λ′ − λ| ‖v‖``
and example i's prediction can change only if ``|f_i(λ)| ≤ ρ = K |λ′ − λ| ‖v‖``. So a group's
selection rate can fall at most by the share of its examples predicted positive within ρ of zero
(``F⁺``) and rise at most by the share predicted negative within ρ (``F⁻``). DPD is
``|sr_A − sr_R|`` (A the subgroup, R the rest), so ``sr_A − sr_R`` moves within
``[−F⁺_A − F⁻_R, F⁻_A + F⁺_R]`` and DPD′ lies between the smallest and largest ``|d + δ|`` over
that range. TPR and FPR are selection rates among positives and among negatives, so the same holds
for each gap, and EOD′ = max(|ΔTPR gap|, |ΔFPR gap|) lies between the larger of their lower
bounds and the larger of their upper bounds. The bound grows with ``λ‖τ‖`` (the paper's
sensitivity to the vectors' norms) and with the mass of margins near zero.

**What the run supplies.** ``K`` is not known. For each path it is estimated on the *validation*
split from the *other* paths — the largest change of any example's margin between neighbouring
stored points, per unit of ``|Δλ| ‖v‖`` — and the bound is applied to the path's *test* margins.
So the claim is put at risk twice: that one ``K`` per model carries over between vectors of
different norms (a path whose margins move faster per unit of λ‖τ‖ than every other leaves its
envelope), and that validation carries over to test. (Fitted on the path itself, every stored
point would lie inside by the triangle inequality: no test at all.) Where the measured curve
leaves the envelope, the finding says so; where the envelope is too wide to exclude anything, it
says that instead."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..store.results import RunResults

__all__ = ["path_norms", "path_rates", "margin_rate", "envelope", "scaling_bound", "PATHS"]

PATHS = ("uniform", "axis", "inject")


def path_norms(results: RunResults, seed: int) -> dict[tuple[str, str], float]:
    """``(family, target) -> ‖v‖`` of every path's direction: ``‖Σ_g τ_g‖`` for the uniform sweep,
    ``‖τ_g‖`` for an axis and an injection (vectors read one at a time: memory stays two vectors)."""
    run = results.open_run()
    total, out = None, {}
    for g in results.groups:
        v = run.task_vector(seed, g)
        out[("axis", g)] = out[("inject", g)] = v.norm()
        total = v if total is None else total + v
        del v
    if total is not None:
        out[("uniform", "")] = total.norm()
    return out


def _paths(sr, split: str) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    out = {}
    for family in PATHS:
        targets = [""] if family == "uniform" else list(sr.groups)
        for t in targets:
            try:
                lams, m = sr.margins(family, t, split)
            except KeyError:
                continue
            ok = np.isfinite(lams)
            if ok.sum() >= 2:
                out[(family, t)] = (lams[ok], m[ok].astype(np.float64))
    return out


def path_rates(sr, norms: dict, split: str = "val") -> dict[tuple[str, str], float]:
    """Per path, the largest change of an example's margin between neighbouring stored points,
    per unit of displacement ``|Δλ| ‖v‖``, on ``split``."""
    out = {}
    for key, (lams, m) in _paths(sr, split).items():
        norm = norms.get(key)
        if norm:
            step = np.abs(np.diff(lams))[:, None] * norm
            out[key] = float(np.max(np.abs(np.diff(m, axis=0)) / np.where(step > 0, step, np.inf)))
    return out


def margin_rate(sr, norms: dict, split: str = "val", *, exclude: tuple | None = None,
                rates: dict | None = None) -> float:
    """``K``: the largest of :func:`path_rates` over every path but ``exclude`` (``rates``: those
    rates, when already computed)."""
    rates = path_rates(sr, norms, split) if rates is None else rates
    return max((r for key, r in rates.items() if key != exclude), default=0.0)


def _gap_range(f: np.ndarray, pred: np.ndarray, rho: float, a: np.ndarray, r: np.ndarray):
    """The range of ``rate_a − rate_r`` (rates of positive predictions among rows a and r) when every
    row within ``rho`` of zero may flip: ``(gap, lowest, highest)``."""
    near = np.abs(f) <= rho
    def share(sel, rows):
        n = rows.sum()
        return float((sel & rows).sum() / n) if n else np.nan
    ra, rr = share(pred, a), share(pred, r)
    down_a, up_a = share(pred & near, a), share(~pred & near, a)
    down_r, up_r = share(pred & near, r), share(~pred & near, r)
    d = ra - rr
    return d, d - down_a - up_r, d + up_a + down_r


def _abs_range(d, lo, hi):
    if not np.isfinite(d):
        return np.nan, np.nan
    upper = max(abs(lo), abs(hi))
    lower = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
    return lower, upper


def envelope(f_ref: np.ndarray, labels: np.ndarray, mask: np.ndarray, rho: float) -> dict[str, tuple[float, float]]:
    """The DPD and EOD range of one subgroup (``mask``) against the rest when every example
    within ``rho`` of zero margin (``f_ref``) may change its prediction: ``{"dpd": (lower, upper),
    "eod": (lower, upper)}``."""
    pred = f_ref > 0
    y = np.asarray(labels).astype(bool)
    a, r = np.asarray(mask, dtype=bool), ~np.asarray(mask, dtype=bool)
    dpd = _abs_range(*_gap_range(f_ref, pred, rho, a, r))
    tpr = _abs_range(*_gap_range(f_ref, pred, rho, a & y, r & y))
    fpr = _abs_range(*_gap_range(f_ref, pred, rho, a & ~y, r & ~y))
    eod = (max(tpr[0], fpr[0]), max(tpr[1], fpr[1])) if np.isfinite(tpr[0]) and np.isfinite(fpr[0]) else (np.nan, np.nan)
    return {"dpd": dpd, "eod": eod}


def _reference(family: str, lams: np.ndarray, chosen: float | None) -> int:
    want = {"uniform": chosen if chosen is not None else 1.0, "axis": 1.0, "inject": 0.0}[family]
    return int(np.argmin(np.abs(lams - want)))


def scaling_bound(results: RunResults, *, split: str = "test", fit_split: str = "val",
                  norms: dict[int, dict] | None = None) -> pd.DataFrame:
    """Per seed, path, stored λ, subgroup and metric (DPD, EOD): the measured value on ``split``,
    the envelope ``[lower, upper]`` the bound allows from the path's reference point (uniform:
    the λ chosen on validation; an axis: λ = 1, the subgroup's own model; an injection: λ = 0,
    FFT), whether the measured value is inside, and ``used``: the measured change as a share of
    the envelope's reach on its side. Each path's ``K`` is fitted on ``fit_split`` from the other
    paths."""
    from ..metrics.fairness import group_rates
    rows = []
    chosen = {int(k): float(v) for k, v in results.summary.get("chosen_lambda", {}).items()}
    for seed, sr in results.seeds.items():
        nrm = norms[seed] if norms is not None else path_norms(results, seed)
        fitted = path_rates(sr, nrm, fit_split)
        labels = sr.labels[split]
        for (family, target), (lams, m) in _paths(sr, split).items():
            norm = nrm.get((family, target))
            K = margin_rate(sr, nrm, fit_split, exclude=(family, target), rates=fitted)   # the other paths only
            if not norm or not K:
                continue
            ref = _reference(family, lams, chosen.get(int(seed)))
            rates = group_rates(m > 0, labels, sr.masks[split])
            for j, lam in enumerate(lams):
                rho = K * abs(lam - lams[ref]) * norm
                for gi, g in enumerate(results.groups):
                    env = envelope(m[ref], labels, sr.masks[split][gi], rho)
                    for metric in ("dpd", "eod"):
                        lo, hi = env[metric]
                        val, r0 = float(getattr(rates, metric)[j, gi]), float(getattr(rates, metric)[ref, gi])
                        reach = (hi - r0) if val >= r0 else (r0 - lo)
                        rows.append({"seed": int(seed), "family": family, "target": target, "lam": float(lam),
                                     "ref_lam": float(lams[ref]), "norm": float(norm), "K": K,
                                     "displacement": abs(lam - lams[ref]) * norm, "radius": rho, "group": g,
                                     "metric": metric, "reference": r0, "measured": val, "lower": lo, "upper": hi,
                                     "inside": bool(lo - 1e-9 <= val <= hi + 1e-9) if np.isfinite(val) else np.nan,
                                     "used": abs(val - r0) / reach if reach > 1e-12 else np.nan})
    return pd.DataFrame(rows)
