"""Task-vector analysis: norms, per-layer norms, cosine matrix, fairness sensitivity."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from taskfair.steering.sensitivity import sensitivity, vector_tables
from taskfair.store.results import load_results

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def test_vector_tables_are_consistent(res):
    t = vector_tables(res)
    norms = t["norms"].set_index("vector")
    assert list(norms.index) == ["fft", "lora", *res.groups] and (norms.norm > 0).all()
    # per-layer norms add up (in squares) to the whole norm
    sq = t["layers"].groupby("vector").norm.apply(lambda s: float(np.sqrt((s ** 2).sum())))
    np.testing.assert_allclose(sq[norms.index], norms.norm, rtol=1e-6)
    cos = t["cosine"].to_numpy()
    np.testing.assert_allclose(np.diag(cos), 1.0, atol=1e-9)
    np.testing.assert_allclose(cos, cos.T, atol=1e-12)
    assert (np.abs(cos) <= 1 + 1e-9).all()
    # subgroup sizes are the training rows of each group; FFT used all of them
    assert norms.loc["fft", "training rows"] >= max(norms.loc[g, "training rows"] for g in res.groups)


def test_sensitivity_slopes_match_a_direct_fit(res):
    s = sensitivity(res)
    assert set(s.subgroup) == set(res.groups)
    g = res.groups[0]
    m = res.metrics
    p = m[(m.split == "test") & (m.family == "axis") & (m.target == g) & (m.metric == "dpd") & (m.group == g)].sort_values("lam")
    want = np.polyfit(p.lam.to_numpy(float), p.value.to_numpy(float), 1)[0]
    assert s.loc[s.subgroup == g, "axis ddpd/dλ"].iloc[0] == pytest.approx(want)


def test_sensitivity_intervals_refit_the_line_on_resampled_examples(res):
    from taskfair.steering.sensitivity import _slopes
    from taskfair.metrics.fairness import group_rates

    s = sensitivity(res, n_boot=300)
    for col in ("axis ddpd/dλ", "inject deod/dλ", "axis daccuracy/dλ"):
        ok = s[f"{col} low"].notna()
        assert ok.any()
        assert (s.loc[ok, f"{col} low"] <= s.loc[ok, f"{col} high"]).all()
    # with every resample equal to the data itself, the refitted slope is the reported one
    seed, sr = next(iter(res.seeds.items()))
    g = res.groups[1]
    lams, margins = sr.margins("axis", g, "test")
    r = group_rates(margins > 0, sr.labels["test"], sr.masks["test"])
    direct = _slopes(lams, r.dpd[:, 1][None, :])[0]
    assert direct == pytest.approx(s[(s.seed == seed) & (s.subgroup == g)]["axis ddpd/dλ"].iloc[0])
    # accuracy slopes move with λ on real resamples, so their interval has width
    acc = s["axis daccuracy/dλ high"] - s["axis daccuracy/dλ low"]
    assert (acc > 0).any()
    assert "axis ddpd/dλ low" not in sensitivity(res, n_boot=0).columns


def test_vectors_command_and_page(pico_store, monkeypatch):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "taskfair", "vectors", "--run", "pico", "--artifacts",
                          str(pico_store)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "cosine similarity" in out.stdout and "norm per layer" in out.stdout
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(pico_store))
    at = AppTest.from_file(str(ROOT / "pages" / "9_vectors.py"), default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) == 4
    before = at.get("plotly_chart")[3].proto.spec
    import json
    assert "error_y" in json.loads(before)["data"][0]      # slope intervals drawn
    at.radio(key="vec_metric").set_value("eod").run()
    assert not at.exception and at.get("plotly_chart")[3].proto.spec != before
