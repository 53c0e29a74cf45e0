"""The plan of a seed: every evaluation point as a coefficient vector ``c`` over
``[τ_FFT, τ_1 … τ_K]`` applied to θ0, grouped into jobs.

The base is ``0`` and FFT is ``e_0`` (job ``reference``, evaluated right after FFT's training),
subgroup model g is ``e_g``, the uniform sweep is ``(0, λ, …, λ)``, injection into FFT is ``e_0 + λ e_g``, subgroup g's own axis is ``λ e_g``; pairs
and random probes teach the remix estimate how the vectors interact; each of ``grids.methods``
(TIES, DARE, …) is another merge of the subgroup vectors. Identical points are evaluated once.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from taskfair.config import StudyConfig
from taskfair.steering import method_recipe_params
from taskfair.store import layout

__all__ = ["Point", "plan_points", "REFERENCE", "seed_jobs", "planned_jobs"]

REFERENCE = "reference"


@dataclass(frozen=True)
class Point:
    family: str          # base | fft | subgroup | uniform | inject | axis | pair | probe | lora, or a merge method
    target: str          # the subgroup for subgroup/inject/axis, else ""
    lam: float           # λ, NaN where it does not apply
    coef: tuple[float, ...]
    method: str = "task_arithmetic"
    params: tuple[tuple[str, float | int], ...] = ()

    @property
    def key(self) -> tuple:
        """Points with equal keys are the same model, evaluated once."""
        return (self.coef, self.method, self.params)

    def label(self) -> dict:
        return {"family": self.family, "target": self.target, "lam": self.lam}


def plan_points(cfg: StudyConfig, groups: tuple[str, ...], seed: int = 0) -> dict[str, list[Point]]:
    """Job name -> its points, for one seed (random probes are seeded by it)."""
    k = len(groups)
    nan = float("nan")

    def e(i: int, scale: float = 1.0) -> list[float]:
        c = [0.0] * (k + 1)
        c[i] = scale
        return c

    jobs: dict[str, list[Point]] = {
        # θ0 and FFT are evaluated as soon as FFT is trained (the dashboard's first comparison)
        REFERENCE: [Point("base", "", nan, tuple(e(0, 0.0))), Point("fft", "", nan, tuple(e(0)))],
        "models": [Point("subgroup", g, nan, tuple(e(i + 1))) for i, g in enumerate(groups)],
        "uniform": [Point("uniform", "", lam, (0.0,) + (lam,) * k) for lam in cfg.grids.uniform],
    }
    for i, g in enumerate(groups):
        jobs[f"inject/{g}"] = [Point("inject", g, lam, tuple(np.add(e(0), e(i + 1, lam)).tolist()))
                               for lam in cfg.grids.inject]
    for i, g in enumerate(groups):
        jobs[f"axis/{g}"] = [Point("axis", g, lam, tuple(e(i + 1, lam))) for lam in cfg.grids.axis]
    if k > 1 and cfg.grids.pairs:
        jobs["pairs"] = [Point("pair", f"{g}+{h}", lam, tuple(np.add(e(i + 1, lam), e(j + 1, lam)).tolist()))
                         for lam in cfg.grids.pairs for (i, g), (j, h) in combinations(enumerate(groups), 2)]
    for m in cfg.grids.methods:
        jobs[f"method/{m}"] = [Point(m, "", lam, (0.0,) + (lam,) * k, m, method_recipe_params(cfg.grids, m, seed))
                               for lam in cfg.grids.methods_grid]
    if k > 1 and cfg.grids.probes:
        rng = np.random.default_rng([seed, 1729])
        jobs["probes"] = [Point("probe", f"#{n}", float("nan"), (0.0,) + tuple(np.round(rng.uniform(0, 1, k), 4).tolist()))
                          for n in range(cfg.grids.probes)]
    return jobs


def seed_jobs(cfg: StudyConfig, groups: tuple[str, ...], seed: int) -> list[tuple[str, str, object]]:
    """A seed's jobs in the order they run: (job name, kind, what): ``base``; ``train`` with the
    index of the fine-tune in :func:`training_plan`; ``eval`` with the job's points."""
    jobs: list[tuple[str, str, object]] = [(layout.base_job(seed), "base", None)]
    jobs += [(layout.train_job(seed, v), "train", i) for i, v in enumerate(("fft", "lora", *groups))]
    jobs += [(layout.eval_job(seed, name), "eval", pts) for name, pts in plan_points(cfg, groups, seed).items()]
    return jobs


def planned_jobs(cfg: StudyConfig, groups: tuple[str, ...]) -> list[str]:
    """The name of every job a run of ``cfg`` records when it finishes (for progress displays)."""
    return [layout.DATA_JOB, *(j for seed in cfg.seeds for j, _, _ in seed_jobs(cfg, groups, seed)),
            layout.METRICS_JOB]
