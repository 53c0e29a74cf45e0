"""Cached loaders: every computation a page needs is a library call behind one of these.

``st.cache_data`` hands each caller its own copy, so pages may modify what they get. Objects in
``st.cache_resource`` (θ0 models, estimators) are shared by every session and never mutated: exact
evaluation merges into a private copy.
"""
from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from taskfair.metrics.tables import seed_mean
from taskfair.steering import views
from taskfair.steering.estimate import RemixEstimator
from taskfair.steering.remix import RemixView, remix_view as _remix_view
from taskfair.steering.exact import load_theta0
from taskfair.store import ArtifactStore, StoreError
from taskfair.store.results import RunResults, load_results


def artifact_root() -> str:
    return os.environ.get("TASKFAIR_ARTIFACTS", "artifacts")


def export_root() -> str:
    return os.environ.get("TASKFAIR_EXPORTS", "exports")


def manifest_mtime(root: str, run_id: str) -> float:
    """Cache key part: a rerun of the precompute changes the manifest and invalidates caches."""
    try:
        return ArtifactStore(root).modified(run_id)
    except StoreError:  # a run id that cannot name a run folder
        return 0.0


@st.cache_data(show_spinner=False, ttl=3)
def list_runs(root: str) -> list[str]:
    return ArtifactStore(root).runs()


def starting_runs(root: str) -> list[str]:
    """Run folders a live precompute holds that have no manifest yet (just started)."""
    from pathlib import Path

    from taskfair.store import lock_holder
    base = Path(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and lock_holder(p) is not None)


@st.cache_resource(show_spinner="Verifying and loading the run…", max_entries=4)
def results(root: str, run_id: str, mtime: float) -> RunResults:
    """A finished run, verified once per manifest version (shared, read-only); of a run still
    computing, its results so far."""
    return load_results(root, run_id, partial=True)


@st.cache_resource(show_spinner=False, max_entries=4)   # as many as `results` keeps
def settled(root: str, run_id: str, mtime: float) -> bool:
    """Once per loaded run: the per-group thresholds baseline fitted (a finished run), then
    collect, and freeze what is alive (the libraries, the run) so that
    Python's generation-2 collections, which hold every session up while they run, skip it. The
    earlier freeze is undone first, so a run evicted since is collected. What else is alive at
    that moment (other sessions' state) is frozen too: if it later becomes cyclic garbage it waits
    for the next loaded run's call: bounded, one snapshot per run version."""
    import gc
    if results(root, run_id, mtime).finished:
        threshold_points(root, run_id, mtime)
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return True


def progress(root: str, run_id: str):
    """How far the run has got (None for a run stored without a plan)."""
    from taskfair.store import run_progress
    try:
        return run_progress(ArtifactStore(root).open(run_id, verify=False))
    except (StoreError, OSError, ValueError):
        return None


def results_version(root: str, run_id: str) -> str | None:
    """Which results a run has now: ``final``, the hash of its results so far, or None."""
    from taskfair.store import layout
    try:
        run = ArtifactStore(root).open(run_id, verify=False)
    except (StoreError, OSError, ValueError):
        return None
    if layout.METRICS_JOB in run.manifest["jobs"]:  # as load_results decides (no file hashed per poll)
        return "final"
    rec = run.manifest["files"].get(layout.INTERIM_SUMMARY)
    return rec["sha256"] if rec else None


@st.cache_data(show_spinner=False, ttl=30)
def planned_jobs(root: str, run_id: str) -> list[str]:
    plan = ArtifactStore(root).open(run_id, verify=False).plan()
    return [j for j, _ in plan["jobs"]] if plan else []


@st.cache_resource(show_spinner=False, max_entries=8)
def estimators(root: str, run_id: str, mtime: float, split: str) -> tuple[RemixEstimator, ...]:
    res = results(root, run_id, mtime)
    ests = tuple(RemixEstimator(s, split) for s in res.seeds.values())
    for e in ests:  # the leave-one-out error shown beside each estimate: once, here, not on the first
        e.expected_error()  # slider move of every session at once (that stalled 8 sessions ~18 s)
    return ests


@st.cache_data(show_spinner=False)
def min_size_effect(root: str, run_id: str, mtime: float, split: str) -> pd.DataFrame:
    return views.min_size_effect(results(root, run_id, mtime), split=split)


@st.cache_data(show_spinner=False)
def data_report(root: str, run_id: str, mtime: float) -> dict | None:
    """What cleaning dropped and the data notes (runs made before they were stored: None)."""
    return ArtifactStore(root).open(run_id, verify=False).data_report()


@st.cache_data(show_spinner="Testing the findings (paired bootstrap)…")
def findings(root: str, run_id: str, mtime: float, split: str) -> list:
    from taskfair.steering.findings import findings as check
    return check(results(root, run_id, mtime), split=split)


@st.cache_data(show_spinner=False)
def findings_comparisons(root: str, run_id: str, mtime: float, split: str) -> pd.DataFrame:
    """Every comparison behind the findings: finding, verdict, comparison, estimate, 95% interval,
    p-values (raw and Holm-corrected)."""
    rows = [{"finding": f.key, "verdict": f.verdict, **t} for f in findings(root, run_id, mtime, split) for t in f.tests]
    return pd.DataFrame(rows)


@st.cache_data(show_spinner="Checking the scaling bound against every measured point…")
def scaling_bound(root: str, run_id: str, mtime: float, split: str) -> pd.DataFrame:
    from taskfair.steering.bound import scaling_bound as bound
    return bound(results(root, run_id, mtime), split=split)


@st.cache_data(show_spinner=False)
def compare_methods(root: str, run_id: str, mtime: float, split: str) -> pd.DataFrame:
    return views.compare_methods(results(root, run_id, mtime), split=split)


@st.cache_data(show_spinner=False)
def health_warnings(root: str, run_id: str, mtime: float) -> list[dict]:
    return views.health_warnings(results(root, run_id, mtime))


@st.cache_data(show_spinner=False)
def uniform_sweep(root: str, run_id: str, mtime: float, split: str, per_group: bool) -> pd.DataFrame:
    return views.uniform_sweep(results(root, run_id, mtime), split=split, per_group=per_group)


@st.cache_data(show_spinner=False)
def family_grid(root: str, run_id: str, mtime: float, family: str, target: str, split: str) -> pd.DataFrame:
    return views.family_grid(results(root, run_id, mtime), family, target=target, split=split)


@st.cache_data(show_spinner="Fitting per-group thresholds (fairlearn)…")
def threshold_points(root: str, run_id: str, mtime: float) -> pd.DataFrame:
    """Per-group thresholds fitted on validation over FFT, LoRA and task addition at the chosen λ
    (both constraints), in the metrics' shape; empty for a run that cannot have them yet. Fitted
    when a page first loads a finished run (:func:`settled`), so that no later page waits for it."""
    from taskfair.steering.thresholds import threshold_points as fit
    res = results(root, run_id, mtime)
    return fit(res, views.chosen_configs(res), n_boot=200)  # the run's own bootstrap default


@st.cache_data(show_spinner=False)
def frontier_points(root: str, run_id: str, mtime: float, split: str, unfairness: str,
                    thresholds: bool = False) -> pd.DataFrame:
    extra = threshold_points(root, run_id, mtime) if thresholds else None
    return views.frontier_points(results(root, run_id, mtime), split=split, unfairness=unfairness, extra=extra)


@st.cache_data(show_spinner=False)
def thresholds_verdict(root: str, run_id: str, mtime: float, split: str, unfairness: str) -> str:
    return views.thresholds_against_merges(frontier_points(root, run_id, mtime, split, unfairness, True), unfairness,
                                           results=results(root, run_id, mtime), split=split)


@st.cache_data(show_spinner=False)
def methods_headline(root: str, run_id: str, mtime: float, split: str) -> pd.DataFrame:
    """FFT, LoRA, task addition and per-group thresholds: accuracy, worst DPD, worst EOD as
    ``value [95% interval]`` for reading."""
    from taskfair.metrics.tables import with_intervals
    t = views.methods_headline(results(root, run_id, mtime), split=split, extra=threshold_points(root, run_id, mtime))
    return with_intervals(t).rename(columns={"accuracy": "Accuracy", "worst_dpd": "Worst DPD", "worst_eod": "Worst EOD"})


@st.cache_data(show_spinner=False)
def stored_headline(root: str, run_id: str, mtime: float, family: str, split: str) -> dict[str, float]:
    """A stored family's overall metrics (mean over seeds and points): the Remix page's reference."""
    return views.family_overall(results(root, run_id, mtime), family, split=split)


@st.cache_data(show_spinner=False, max_entries=2048)
def remix_view(root: str, run_id: str, mtime: float, split: str, lams: tuple[float, ...],
               n_boot: int = 0) -> RemixView:
    """A slider position: the estimate on ``split``, both splits' headline numbers, its expected
    error, whether it is a constant predictor or an extrapolation (one library call)."""
    ests = {sp: estimators(root, run_id, mtime, sp) for sp in dict.fromkeys((split, "val", "test"))}
    return _remix_view(results(root, run_id, mtime), ests, lams, split, n_boot=n_boot)


@st.cache_data(show_spinner=False, max_entries=512)
def remix_thresholds(root: str, run_id: str, mtime: float, split: str, lams: tuple[float, ...],
                     constraint: str) -> pd.DataFrame:
    """Remix + per-group thresholds fitted on the validation estimate (instant)."""
    from taskfair.steering.thresholds import remix_thresholds as both
    ests = {sp: estimators(root, run_id, mtime, sp) for sp in dict.fromkeys(("val", split))}
    return both(results(root, run_id, mtime), ests, lams, constraint, split=split)


@st.cache_resource(show_spinner="Rebuilding θ0…", max_entries=4)
def theta0(root: str, run_id: str, seed: int):
    return load_theta0(ArtifactStore(root).open(run_id, verify=False), seed)


@st.cache_resource(show_spinner=False)
def exact_pool():
    """The server's queue of exact evaluations, run by one worker process (:mod:`ui.worker`)."""
    from ui.worker import ExactPool
    return ExactPool()


@st.cache_data(show_spinner="Comparing predictions…", max_entries=64)
def example_diff(root: str, run_id: str, mtime: float, a: str, b: str, seed: int, split: str):
    from taskfair.steering.diff import example_diff as diff
    d = diff(results(root, run_id, mtime), a, b, seed=seed, split=split)
    return d.summary(), d.examples, d.counts


@st.cache_data(show_spinner="Building the report (bootstrap intervals)…", max_entries=16)
def html_report(root: str, run_id: str, mtime: float, configs: tuple[str, ...], n_boot: int) -> str:
    from taskfair.publishing.htmlreport import html_report as build
    return build(results(root, run_id, mtime), list(configs), n_boot=n_boot)


@st.cache_data(show_spinner=False)
def stored_configs(root: str, run_id: str, mtime: float) -> list[str]:
    from taskfair.steering.configurations import stored_configs as stored
    return stored(results(root, run_id, mtime))


@st.cache_data(show_spinner="Searching λ on the validation estimate…", max_entries=32)
def search(root: str, run_id: str, mtime: float, max_dpd: float | None, max_eod: float | None):
    from taskfair.steering.search import search_coefficients
    return search_coefficients(results(root, run_id, mtime), max_dpd=max_dpd, max_eod=max_eod)


@st.cache_data(show_spinner=False, max_entries=32)
def confirm_search(root: str, run_id: str, mtime: float, max_dpd: float | None, max_eod: float | None,
                   n: int, _progress=None):
    from taskfair.steering.search import confirm
    res = results(root, run_id, mtime)
    return confirm(res, search(root, run_id, mtime, max_dpd, max_eod), n=n, progress=_progress)


@st.cache_data(show_spinner=False, max_entries=16)
def check_front(root: str, run_id: str, mtime: float, max_dpd: float | None, max_eod: float | None,
                n: int, _progress=None):
    from taskfair.steering.search import check_front as check
    return check(results(root, run_id, mtime), search(root, run_id, mtime, max_dpd, max_eod), n=n, progress=_progress)


@st.cache_data(show_spinner=False, max_entries=32)
def counterfactual(root: str, run_id: str, mtime: float, config: str, seed: int, split: str, _progress=None):
    """The counterfactual identity test of one configuration: (summary, table, swapped examples)."""
    from taskfair.steering.counterfactual import counterfactual_test
    cf = counterfactual_test(results(root, run_id, mtime), config, seed=seed, split=split, progress=_progress)
    return cf.summary(), cf.table, cf.examples


@st.cache_data(show_spinner=False)
def layer_blocks(root: str, run_id: str, mtime: float) -> tuple[str, ...]:
    from taskfair.steering.layerwise import run_blocks
    return run_blocks(results(root, run_id, mtime))


@st.cache_data(show_spinner=False, max_entries=64)
def layerwise_exact(root: str, run_id: str, mtime: float, spec: str, _progress=None) -> pd.DataFrame:
    """A layer-wise configuration evaluated exactly: accuracy, worst DPD, worst EOD on validation
    and test (mean over seeds)."""
    from taskfair.steering.layerwise import exact_headline
    return exact_headline(results(root, run_id, mtime), spec, ("val", "test"), progress=_progress)


@st.cache_data(show_spinner=False, max_entries=16)
def layerwise_search(root: str, run_id: str, mtime: float, start: str, budget: int, max_dpd: float | None,
                     max_eod: float | None, _progress=None):
    from taskfair.steering.layerwise import layerwise_search as search
    return search(results(root, run_id, mtime), start=start, budget=budget, max_dpd=max_dpd, max_eod=max_eod,
                  progress=_progress)


@st.cache_data(show_spinner="Loading the task vectors…", max_entries=8)
def vector_tables(root: str, run_id: str, mtime: float, seed: int):
    from taskfair.steering.sensitivity import vector_tables as tables
    return tables(results(root, run_id, mtime), seed)


@st.cache_data(show_spinner=False, max_entries=8)
def sensitivity(root: str, run_id: str, mtime: float, split: str):
    from taskfair.steering.sensitivity import sensitivity as sens
    return sens(results(root, run_id, mtime), split)
