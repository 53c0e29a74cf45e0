"""Synthetic runs whose truth is known (predictions drawn, no model), and the rates at which the
findings' rules say *holds* on them: under the null (false *holds*), for a constant predictor,
and for a planted effect of a stated size (power).

Each point's prediction for an example is drawn from the point's true positive and false positive
rates for the example's subgroup: ``P(ŷ=1 | y=1, g) = tpr``, ``P(ŷ=1 | y=0, g) = fpr``, every
point with its own independent draws (independent errors). Subgroups are disjoint and cover the
data, with different base rates, so DPD is positive even for an unbiased predictor. The truth of
every metric is a known function of these rates."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..metrics.fairness import ALL
from ..metrics.health import health_rows, mark_degenerate
from ..store.results import RunResults, SeedResults
from .findings import findings

__all__ = ["Scenario", "SCENARIOS", "synthetic_results", "verdict_rates"]


@dataclass(frozen=True)
class Scenario:
    """How every point predicts: base rates per subgroup, and per method the rates' shifts.

    ``bias``: per method, added to a subgroup's TPR and FPR (moves its selection rate and so its
    DPD and EOD): a number for the first subgroup, or ``{subgroup index: shift}``; ``skill``: taken
    from every TPR and added to every FPR (lowers accuracy by that much); ``constant``: methods that
    predict positive for every example; ``inject_bias``: per subgroup, the shift of its own rates
    when its vector is injected at λ = 1 (linear in λ); ``seed_sd``: seed-to-seed variation, the sd
    of a per-seed, per-method shift of the first subgroup's rates."""

    name: str
    base_rates: tuple[float, ...] = (0.35, 0.5, 0.65)
    tpr: float = 0.8
    fpr: float = 0.2
    bias: dict = None          # method (fft, lora, uniform, inject) -> shift of g0, or {group index: shift}
    skill: dict = None         # method -> loss of accuracy
    constant: tuple[str, ...] = ()
    inject_bias: dict = None   # subgroup name -> shift of its own rates at λ = 1 of its injection
    seed_sd: float = 0.0


SCENARIOS = {
    "null": Scenario("null"),
    "accuracy boundary": Scenario("accuracy boundary", skill={"uniform": 0.02}),
    "constant task addition": Scenario("constant task addition", constant=("uniform",)),
    "constant everything": Scenario("constant everything", constant=("fft", "lora", "uniform", "inject")),
}


def _shift(sc: Scenario, method: str, g: int) -> float:
    b = (sc.bias or {}).get(method, 0.0)
    return float(b.get(g, 0.0)) if isinstance(b, dict) else (float(b) if g == 0 else 0.0)


def _rates(sc: Scenario, method: str, g: int, lam: float, target: str, groups, rng_shift: float) -> tuple[float, float]:
    bias = _shift(sc, method, g)
    if method == "inject":   # FFT's rates, plus the injected subgroup's own shift
        own = (sc.inject_bias or {}).get(target, 0.0) if groups[g] == target else 0.0
        bias = _shift(sc, "fft", g) + lam * own
    bias += rng_shift if g == 0 else 0.0
    skill = (sc.skill or {}).get(method, 0.0)
    return float(np.clip(sc.tpr - skill + bias, 0, 1)), float(np.clip(sc.fpr + skill + bias, 0, 1))


def synthetic_results(sc: Scenario, *, n_test: int = 600, n_val: int = 600, seeds: int = 1, rng: int = 0,
                      uniform=(0.0, 0.25, 0.5, 0.75, 1.0), inject=(0.0, 0.5, 1.0)) -> RunResults:
    """A run in the shape :func:`~taskfair.store.results.load_results` returns, every point's
    predictions drawn from ``sc`` (margins ±1 plus a little noise)."""
    gen = np.random.default_rng(rng)
    G = len(sc.base_rates)
    groups = tuple(f"g{j}" for j in range(G))
    seed_results, frames, chosen = {}, [], {}
    for s in range(seeds):
        seed = 100 + s
        shift = {m: gen.normal(0, sc.seed_sd) if sc.seed_sd else 0.0 for m in ("fft", "lora", "uniform")}
        shift["inject"] = shift["fft"]        # an injection starts from this seed's FFT
        data = {}
        for split, n in (("val", n_val), ("test", n_test)):
            gi = gen.integers(0, G, size=n)
            y = (gen.random(n) < np.asarray(sc.base_rates)[gi]).astype(np.int8)
            data[split] = (gi, y, np.stack([gi == j for j in range(G)]))
        points = ([("base", "", np.nan), ("fft", "", np.nan), ("lora", "", np.nan)]
                  + [("uniform", "", lam) for lam in uniform]
                  + [("inject", g, lam) for g in groups for lam in inject])
        arrays = {}
        for split, (gi, y, masks) in data.items():
            rows = []
            for family, target, lam in points:
                if family == "base" or family in sc.constant or (family == "inject" and "inject" in sc.constant):
                    pred = np.ones(len(y), dtype=bool) if family != "base" else gen.random(len(y)) < 0.5
                else:
                    method = family
                    tp_fp = np.array([_rates(sc, method, j, 0.0 if np.isnan(lam) else lam, target, groups,
                                             shift.get(method, 0.0)) for j in range(G)])
                    p = np.where(y == 1, tp_fp[gi, 0], tp_fp[gi, 1])
                    pred = gen.random(len(y)) < p
                rows.append(np.where(pred, 1.0, -1.0) + gen.normal(0, 0.01, len(y)))
            arrays[split] = np.stack(rows).astype(np.float32)
        pts = pd.DataFrame(points, columns=["family", "target", "lam"])
        seed_results[seed] = SeedResults(seed, groups, {k: v[1] for k, v in data.items()},
                                         {k: v[2] for k, v in data.items()},
                                         {k: np.arange(len(v[1])) for k, v in data.items()},
                                         {"all": (pts, arrays)})
        for split, (gi, y, masks) in data.items():
            p = pts.assign(seed=seed, split=split)
            pred = arrays[split] > 0
            # only what the degenerate check reads: overall accuracy and the health rows
            frames.append(p[["seed", "split", "family", "target", "lam"]].assign(
                group=ALL, metric="accuracy", value=(pred == (y == 1)).mean(axis=1), note=""))
            frames.append(health_rows(arrays[split] > 0, y, p[["seed", "split", "family", "target", "lam"]], masks, groups))
        # the λ chosen on validation: the most accurate non-constant uniform point
        gi, y, _ = data["val"]
        uni = [i for i, (f, _, _) in enumerate(points) if f == "uniform"]
        acc = [(arrays["val"][i] > 0) == (y == 1) for i in uni]
        best = int(np.argmax([a.mean() for a in acc]))
        chosen[seed] = float(points[uni[best]][2])
    metrics = mark_degenerate(pd.concat(frames, ignore_index=True))
    data = pd.DataFrame({"label": np.zeros(1, dtype=np.int8), **{g: [True] for g in groups}})
    return RunResults(f"synthetic-{sc.name}", "", {"seeds": list(seed_results)},
                      {"chosen_lambda": chosen, "worst_subgroup_fft": groups[0]}, metrics, data, groups, seed_results)


def verdict_rates(sc: Scenario, *, runs: int = 200, n_test: int = 600, seeds: int = 1, n_boot: int = 1000,
                  start: int = 0, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Over ``runs`` synthetic runs of ``sc`` (seeded ``start`` … ``start + runs − 1``: derandomised),
    the share of runs in which each finding (a)–(d) gives each verdict."""
    counts: dict[tuple[str, str], int] = {}
    for r in range(runs):
        res = synthetic_results(sc, n_test=n_test, n_val=n_test, seeds=seeds, rng=start + r)
        for f in findings(res, n_boot=n_boot, bound=False)[:4]:
            verdict = "not measured" if f.verdict.startswith("not measured") else f.verdict
            counts[(f.key, verdict)] = counts.get((f.key, verdict), 0) + 1
        if progress:
            progress(r)
    rows = [{"scenario": sc.name, "finding": k, "verdict": v, "share": n / runs, "runs": runs, "n_test": n_test,
             "seeds": seeds} for (k, v), n in sorted(counts.items())]
    return pd.DataFrame(rows)
