"""A finished run's predictions, read back from the store in the shapes the metrics and the
dashboard use: per seed and split, labels, group masks and margins ``[T, N]`` by family."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..methods import grid_methods
from . import layout
from .files import StoreError
from .root import ArtifactStore
from .run import Run

__all__ = ["SeedResults", "RunResults", "load_results", "load_predictions", "NoResultsYet"]

SPLITS = ("val", "test")


@dataclass(frozen=True)
class SeedResults:
    """Everything evaluated for one seed. ``families[name] = (points, {split: margins [T, N]})``
    where ``points`` is a DataFrame with columns family, target, lam."""

    seed: int
    groups: tuple[str, ...]
    labels: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    index: dict[str, np.ndarray]
    files: dict[str, tuple[pd.DataFrame, dict[str, np.ndarray]]]

    def margins(self, family: str, target: str = "", split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """``(lams [T], margins [T, N])`` of one family (and target subgroup), sorted by λ."""
        lams, rows = [], []
        for points, arrays in self.files.values():
            sel = (points.family == family) & (points.target == target)
            for i in np.flatnonzero(sel.to_numpy()):
                lams.append(points.lam.iloc[i])
                rows.append(arrays[split][i])
        if not rows:
            raise KeyError(f"seed {self.seed}: no predictions for family {family!r} target {target!r}")
        order = np.argsort(np.nan_to_num(np.asarray(lams, dtype=float), nan=-1.0), kind="stable")
        return np.asarray(lams, dtype=float)[order], np.stack(rows)[order]

    def _subgroup_points(self) -> list[tuple[str, int]]:
        """(file, row) of every distinct evaluated point ``θ0 + Σ_g λ_g τ_g``, found once."""
        found = self.__dict__.get("_subgroup_found")
        if found is None:
            found, seen = [], set()
            for name, (points, arrays) in self.files.items():
                if "coef" not in arrays:
                    continue
                plain = ~points["family"].isin(grid_methods()).to_numpy()  # TIES, DARE … are other merges
                for i, (c, ok) in enumerate(zip(arrays["coef"], plain)):
                    key = tuple(np.round(c, 6))
                    if ok and c[0] == 0 and key not in seen:
                        seen.add(key)
                        found.append((name, i))
            self.__dict__["_subgroup_found"] = found
        return found

    def subgroup_lams(self) -> np.ndarray:
        """The λ ``[T, K]`` of :meth:`subgroup_space`, without its margins."""
        pts = self._subgroup_points()
        if not pts:
            return np.zeros((0, len(self.groups)))
        return np.stack([self.files[f][1]["coef"][i][1:] for f, i in pts]).astype(np.float64)

    def subgroup_space(self, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """Every distinct evaluated point of the form ``θ0 + Σ_g λ_g τ_g`` (no FFT vector):
        ``(λ [T, K], margins [T, N])``."""
        pts = self._subgroup_points()
        if not pts:
            return np.zeros((0, len(self.groups))), np.zeros((0, len(self.labels[split])))
        return self.subgroup_lams(), np.stack([self.files[f][1][split][i] for f, i in pts]).astype(np.float64)

    def single(self, family: str, target: str = "", split: str = "test") -> np.ndarray:
        return self.margins(family, target, split)[1][0]


@dataclass(frozen=True)
class RunResults:
    run_id: str
    root: str
    config: dict
    summary: dict
    metrics: pd.DataFrame
    data: pd.DataFrame
    groups: tuple[str, ...]
    seeds: dict[int, SeedResults]
    finished: bool = True       # False: the results so far of a run still computing

    @property
    def worst_subgroup(self) -> str:
        return self.summary["worst_subgroup_fft"]

    def open_run(self) -> Run:
        """The run these results were read from (already verified when they were loaded)."""
        return ArtifactStore(self.root).open(self.run_id, verify=False)


def load_predictions(run: Run, seed: int) -> dict[str, tuple[list[dict], dict[str, np.ndarray]]]:
    """Every stored prediction file of a seed: name -> (point labels, {split: margins [T, N]},
    plus ``coef [T, 1 + K]``, each point's coefficients over ``[τ_FFT, τ_1 … τ_K]``)."""
    from safetensors import safe_open

    out = {}
    for job, path in run.prediction_files(seed).items():
        with safe_open(str(path), framework="pt") as f:
            points = json.loads(f.metadata()["points"])
            arrays = {s: f.get_tensor(s).numpy() for s in SPLITS}
            if "coef" in f.keys():
                arrays["coef"] = f.get_tensor("coef").numpy().astype(np.float64)
        out[job] = (points, arrays)
    return out


def _load_seed(run: Run, seed: int, data: pd.DataFrame, groups: tuple[str, ...]) -> SeedResults:
    idx = {k: np.asarray(v, dtype=np.int64) for k, v in run.split_indices(seed).items()}
    member = data[list(groups)].to_numpy(dtype=bool)
    labels = data["label"].to_numpy(dtype=np.int8)
    files = {name: (pd.DataFrame(points), arrays)
             for name, (points, arrays) in load_predictions(run, seed).items()}
    return SeedResults(seed, groups, {s: labels[idx[s]] for s in SPLITS},
                       {s: np.ascontiguousarray(member[idx[s]].T) for s in SPLITS},
                       {s: idx[s] for s in SPLITS}, files)


def load_results(root: str | Path, run_id: str, *, partial: bool = False) -> RunResults:
    """Open (and verify) a finished run and read every prediction of every seed.

    With ``partial``, a run still computing gives its results so far (``finished`` False): the
    metrics the pipeline saved last and the predictions stored by then, each file verified as it
    is read. A run with nothing to show yet raises :class:`NoResultsYet`."""
    run = ArtifactStore(root).open(run_id, verify=False)
    # a run whose manifest records its metrics job has finished: every file is verified, and a
    # damaged one is an error (never shown as a run still computing)
    finished = layout.METRICS_JOB in run.manifest["jobs"]
    if finished or not partial:
        run.verify()
    if finished:
        metrics, summary = run.metrics(), run.summary()
    elif not partial:
        raise StoreError(f"run {run_id!r} has not finished; rerun `python -m precompute` to resume it")
    else:
        so_far = run.interim() if run.is_done(layout.DATA_JOB) else None
        if so_far is None:
            raise NoResultsYet(f"run {run_id!r} has no results yet: its first models are still training")
        metrics, summary = so_far
    data = run.dataset()
    groups = tuple(c for c in data.columns if c not in layout.DATA_COLUMNS)
    seeds = {s: _load_seed(run, s, data, groups) for s in run.seeds}
    return RunResults(run_id, str(root), run.config, summary, metrics, data, groups, seeds, finished)


class NoResultsYet(StoreError):
    """A run still computing that has no results to show yet."""
