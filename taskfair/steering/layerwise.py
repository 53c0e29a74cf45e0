"""Layer-wise coefficients: one λ per subgroup and per block of layers (embeddings, lower layers,
upper layers, head by default), as layer-wise merging methods do for accuracy. There is no
instant estimate for them: every figure is an exact evaluation (merge, run, measure).

:func:`layerwise_search` looks for per-block λ on the validation split by coordinate search under
a budget of exact evaluations, and reports test beside validation for where it started and what
it found."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..metrics.fairness import ALL
from ..store.results import RunResults
from .configurations import Variant, lam_range, parse_variant

__all__ = ["run_blocks", "LayerwiseSearch", "exact_headline", "layerwise_search", "layerwise_spec"]


def run_blocks(results: RunResults, bounds: Sequence[int] | None = None) -> tuple[str, ...]:
    """The blocks of the run's model (read from a stored task vector's tensor names, no model built)."""
    from ..vectors.blocks import assign_blocks
    from ..vectors.streaming import TensorSource
    run = results.open_run()
    seed = next(iter(results.seeds))
    src = TensorSource(run.task_vector_path(seed, results.groups[0]))
    try:
        names = list(src.names())
    finally:
        src.close()
    return assign_blocks(names, bounds)[1]


def layerwise_spec(grid: np.ndarray | Sequence[Sequence[float]], bounds: Sequence[int] = ()) -> str:
    """The configuration string of a per-subgroup × per-block λ grid ``[K, B]``."""
    return Variant("layerwise", grid=tuple(tuple(round(float(v), 4) for v in row) for row in np.asarray(grid)),
                  bounds=tuple(bounds)).spec


@dataclass(frozen=True)
class LayerwiseSearch:
    start: str                  # the configuration the search started from
    best: str                   # the best found on validation
    history: pd.DataFrame       # every validation evaluation: spec, metrics, objective, accepted
    report: pd.DataFrame        # start and best: validation beside test (exact)


HEADLINE = ["accuracy", "worst_dpd", "worst_eod"]


def exact_headline(results: RunResults, spec: str, splits: Sequence[str] = ("val", "test"), *, bases=None,
                   progress: Callable[[float, str], None] | None = None) -> pd.DataFrame:
    """Accuracy, worst DPD and worst EOD of ``spec`` merged and run exactly, mean over seeds:
    metric × split."""
    from .exact import exact_metrics
    t = exact_metrics(results, spec, splits=splits, bases=bases, progress=progress)
    t = t[(t.group == ALL) & t.metric.isin(HEADLINE)]
    return t.groupby(["metric", "split"]).value.mean().unstack("split").reindex(HEADLINE)


def _headline(results: RunResults, spec: str, splits: Sequence[str], bases) -> dict[str, float]:
    t = exact_headline(results, spec, splits, bases=bases)
    return {f"{s} {m}": float(t.loc[m, s]) for s in t.columns for m in t.index}


def layerwise_search(results: RunResults, *, start: str | Sequence[float] | None = None, budget: int = 12,
                     step: float = 0.25, max_dpd: float | None = None, max_eod: float | None = None,
                     bounds: Sequence[int] = (),
                     progress: Callable[[float, str], None] | None = None) -> LayerwiseSearch:
    """Coordinate search over per-block λ on validation, ``budget`` exact evaluations at most.

    Starts from ``start`` (a remix string, one λ per subgroup, or a layer-wise string; default:
    the λ chosen on validation for every subgroup and block); in turn raises and lowers each
    (subgroup, block) λ by ``step``, keeping a move when it improves the objective, and halves
    the step after a pass without one. The objective is validation accuracy, less 10× any excess
    of worst DPD over ``max_dpd`` and of worst EOD over ``max_eod``. λ stay in the run's range.
    The start and the best are then evaluated on validation and test (two more evaluations)."""
    from .exact import load_theta0
    if budget < 1:
        raise ValueError(f"budget must be at least 1 exact evaluation, got {budget}")
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive number, got {step}")
    cfg = parse_variant(start, results.groups) if isinstance(start, str) else None
    if cfg is not None and cfg.family == "layerwise":
        bounds = cfg.bounds  # the start's own split of the layers
    elif cfg is not None and cfg.family != "remix":
        raise ValueError(f"start from a remix or a layer-wise configuration, not {start!r}")
    blocks = run_blocks(results, bounds or None)
    k, b = len(results.groups), len(blocks)
    if start is None:
        lam = float(np.mean(list(results.summary["chosen_lambda"].values())))
        grid = np.full((k, b), lam)
    elif cfg is not None and cfg.family == "layerwise":
        grid = np.asarray(cfg.grid, dtype=float)
    elif cfg is not None:
        grid = np.repeat(np.asarray(cfg.lams, dtype=float)[:, None], b, axis=1)
    else:
        grid = np.repeat(np.asarray(start, dtype=float)[:, None], b, axis=1)
    if grid.shape != (k, b):
        raise ValueError(f"the start has {grid.shape[1]} blocks; this model's are {', '.join(blocks)}")
    lo, hi = lam_range(results)
    run = results.open_run()
    bases = {s: load_theta0(run, s) for s in results.seeds}
    say = progress or (lambda f, t: None)

    def objective(m: dict[str, float]) -> float:
        def excess(v, bound):  # an undefined worst case counts as a full violation
            return 0.0 if bound is None else 1.0 if not np.isfinite(v) else max(0.0, v - bound)
        pen = excess(m["val worst_dpd"], max_dpd) + excess(m["val worst_eod"], max_eod)
        return m["val accuracy"] - 10.0 * pen

    history = []

    def evaluate(g: np.ndarray) -> float:
        spec = layerwise_spec(g, bounds)
        m = _headline(results, spec, ("val",), bases)
        history.append({"spec": spec, **m, "objective": objective(m), "accepted": False})
        say(len(history) / (budget + 2), f"exact evaluation {len(history)} of {budget} (validation)")
        return history[-1]["objective"]

    best = evaluate(grid)
    history[-1]["accepted"] = True
    coords = [(i, j) for i in range(k) for j in range(b)]
    pos, since = 0, 0
    while len(history) < budget:
        i, j = coords[pos % len(coords)]
        pos += 1
        improved = False
        for sign in (1.0, -1.0):
            if len(history) >= budget:
                break
            trial = grid.copy()
            trial[i, j] = float(np.clip(trial[i, j] + sign * step, lo, hi))
            if trial[i, j] == grid[i, j]:
                continue
            got = evaluate(trial)
            if got > best + 1e-9:
                best, grid, improved = got, trial, True
                history[-1]["accepted"] = True
                break
        since = 0 if improved else since + 1
        if since >= len(coords):  # a whole pass without a move: finer steps
            step, since = step / 2, 0
    hist = pd.DataFrame(history)
    first, found = hist.spec.iloc[0], hist.loc[hist.objective.idxmax(), "spec"]
    rows = []
    for label, spec in (("start", first), ("best on validation", found)):
        say(min(1.0, (budget + len(rows) + 1) / (budget + 2)), f"validation and test of the {label}")
        rows.append({"which": label, "spec": spec, **_headline(results, spec, ("val", "test"), bases)})
    return LayerwiseSearch(first, found, hist, pd.DataFrame(rows))
