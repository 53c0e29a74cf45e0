"""Automatic coefficient search on the estimate, confirmed exactly on validation and test."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from taskfair.steering.estimate import RemixEstimator
from taskfair.metrics.fairness import group_rates, summary_metrics
from taskfair.store.results import load_results
from taskfair.steering.search import confirm, search_coefficients

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def test_unbounded_search_traces_a_pareto_front(res):
    r = search_coefficients(res, n_random=300, rounds=1)
    front = r.best
    assert len(front) >= 1 and front.pareto.all()
    acc = front["val accuracy (estimate)"].to_numpy()
    unf = np.maximum(front["val worst_dpd (estimate)"], front["val worst_eod (estimate)"]).to_numpy()
    # along the front, more accuracy costs more unfairness
    order = np.argsort(unf)
    assert (np.diff(acc[order]) >= -1e-12).all()
    # no candidate dominates a front point
    c = r.candidates
    cu = np.maximum(c["val worst_dpd (estimate)"], c["val worst_eod (estimate)"]).to_numpy()
    for a, u in zip(acc, unf):
        assert not ((c["val accuracy (estimate)"].to_numpy() > a) & (cu < u)).any()


def test_bounded_search_respects_bounds_and_beats_the_grid(res):
    loose = float(np.quantile(search_coefficients(res, n_random=200, rounds=0).candidates["val worst_dpd (estimate)"], 0.5))
    r = search_coefficients(res, max_dpd=loose, n_random=300, rounds=2)
    assert not r.best.empty and (r.best["val worst_dpd (estimate)"] <= loose).all()
    # the best is at least as good as every feasible point of the uniform diagonal (which it also tried)
    ests = [RemixEstimator(sr, "val") for sr in res.seeds.values()]
    k = len(res.groups)
    diag = []
    for t in np.linspace(0, 1, 21):
        s = summary_metrics(group_rates(ests[0].margins([t] * k) > 0, ests[0].labels, ests[0].masks))
        if s["worst_dpd"][0] <= loose:
            diag.append(s["accuracy"][0])
    if diag:
        assert r.best["val accuracy (estimate)"].iloc[0] >= max(diag) - 1e-12
    with pytest.raises(ValueError, match="max_eod must be a number ≥ 0"):
        search_coefficients(res, max_eod=-0.1)


def test_confirm_reports_exact_validation_beside_test(res):
    r = search_coefficients(res, n_random=200, rounds=0)
    table = confirm(res, r, n=1)
    assert {"val accuracy (exact)", "test accuracy (exact)", "val accuracy (estimate)"} <= set(table.columns)
    assert table["val accuracy (exact)"].between(0, 1).all() and table["test accuracy (exact)"].between(0, 1).all()
    for split in ("val", "test"):   # each exact figure has its 95% interval around it
        for metric in ("accuracy", "worst_dpd", "worst_eod"):
            col = f"{split} {metric} (exact)"
            assert (table[f"{col} low"] <= table[col] + 1e-9).all() and (table[col] <= table[f"{col} high"] + 1e-9).all()
        acc = f"{split} accuracy (exact)"   # a real interval, not a point (DPD can be 0 throughout)
        assert (table[f"{acc} high"] > table[f"{acc} low"]).all()
    # the pick against every stored point under the same resamples: its share on the front, and
    # its paired difference from FFT (the same as the two exact figures' difference)
    for name in ("worst DPD", "worst EOD"):
        assert table[f"test front share ({name})"].between(0, 1).all()
    fft = res.metrics
    fft = fft[(fft.family == "fft") & (fft.split == "test") & (fft.group == "(all)") & (fft.metric == "accuracy")].value.mean()
    assert table["test accuracy − FFT"].iloc[0] == pytest.approx(table["test accuracy (exact)"].iloc[0] - fft, abs=1e-9)
    assert (table["test accuracy − FFT low"] <= table["test accuracy − FFT"]).all()


def test_search_command(pico_store):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "taskfair", "search", "--run", "pico", "--artifacts",
                          str(pico_store), "--samples", "200", "--confirm", "1", "--max-dpd", "1.0"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "feasible" in out.stdout and "test accuracy (exact)" in out.stdout
    assert "95% bootstrap interval" in out.stdout
    out = subprocess.run([sys.executable, "-m", "taskfair", "search", "--run", "pico", "--artifacts",
                          str(pico_store), "--samples", "100", "--confirm", "0", "--max-dpd", "-1"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "argument --max-dpd: -1 is out of range; give one from 0 to 1" in out.stderr


def test_the_tightest_bounds_are_still_respected(res):
    r = search_coefficients(res, max_dpd=0.0, max_eod=0.0, n_random=200, rounds=1)
    if r.best.empty:   # nothing is perfectly fair: the command then says to loosen the bounds
        assert not r.candidates.feasible.any()
    else:              # only (near-)constant predictors are perfectly fair
        assert (r.best["val worst_dpd (estimate)"] <= 0).all() and (r.best["val worst_eod (estimate)"] <= 0).all()


def test_search_page(pico_store, monkeypatch):
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(pico_store))
    at = AppTest.from_file(str(ROOT / "pages" / "8_search.py"), default_timeout=300)
    at.run()
    assert not at.exception
    at.checkbox(key="search_use_dpd").set_value(False).run()
    at.button(key="search_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) == 1 and len(at.dataframe) >= 1
    at.slider(key="search_n").set_value(1).run()
    at.button(key="search_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("beside test" in s.value for s in at.success)
    confirmed = at.dataframe[-1].value
    assert "test accuracy (exact)" in confirmed.columns
    import json
    chart = json.loads(at.get("plotly_chart")[-1].proto.spec)     # val beside test, with intervals
    bars = [t for t in chart["data"] if t["type"] == "bar"]
    assert {t["name"] for t in bars} == {"val", "test"} and all("error_y" in t for t in bars)
