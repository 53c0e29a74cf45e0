"""The search's estimated front, checked: hypervolume against a brute-force count, and the
front's points evaluated exactly."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from taskfair import load_results
from taskfair.metrics.frontier import hypervolume, pareto_mask


def _brute(acc, unf, ref_acc, ref_unf, n=400):
    """The dominated area by counting cell centres of an n×n grid over the box."""
    xs = ref_unf * (np.arange(n) + 0.5) / n
    ys = ref_acc + (1 - ref_acc) * (np.arange(n) + 0.5) / n
    X, Y = np.meshgrid(xs, ys)
    hit = np.zeros_like(X, dtype=bool)
    for a, u in zip(acc, unf):
        hit |= (X >= u) & (Y <= a)
    return hit.mean() * ref_unf * (1 - ref_acc)


def test_hypervolume_by_hand():
    assert hypervolume([0.8], [0.2], 0.5, 1.0) == pytest.approx(0.3 * 0.8)
    assert hypervolume([0.8, 0.7], [0.2, 0.1], 0.5, 1.0) == pytest.approx(0.1 * 0.2 + 0.8 * 0.3)
    # a dominated point, a point beyond the reference and a NaN add nothing
    assert hypervolume([0.8, 0.7, 0.6, 0.4, np.nan], [0.2, 0.1, 0.3, 0.05, 0.0], 0.5, 1.0) == pytest.approx(0.26)
    assert hypervolume([], [], 0.5, 1.0) == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.5, 1.0), st.floats(0.0, 1.0)), min_size=1, max_size=8))
def test_hypervolume_matches_a_brute_force_count_and_ignores_dominated_points(pts):
    acc, unf = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    hv = hypervolume(acc, unf, 0.5, 1.0)
    assert hv == pytest.approx(_brute(acc, unf, 0.5, 1.0), abs=0.01)
    front = pareto_mask(acc, unf)
    assert hv == pytest.approx(hypervolume(acc[front], unf[front], 0.5, 1.0))


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def test_the_estimated_front_is_checked_by_exact_evaluation(res):
    from taskfair.steering.exact import exact_metrics
    from taskfair.steering.search import check_front, search_coefficients
    result = search_coefficients(res, n_random=300, rounds=1)
    fc = check_front(res, result, n=3)
    pts = fc.points
    assert 1 <= len(pts) <= 3 and pts["on the exact front"].any()
    # each exact figure is the exact evaluation of that λ
    lam_cols = [c for c in pts.columns if c.startswith("λ ")]
    r = pts.iloc[0]
    t = exact_metrics(res, r[lam_cols].to_numpy(dtype=float), splits=("val",))
    t = t[t.group == "(all)"].set_index("metric").value
    assert r["accuracy (exact)"] == pytest.approx(t["accuracy"])
    assert r["unfairness (exact)"] == pytest.approx(max(t["worst_dpd"], t["worst_eod"]))
    # both hypervolumes against the same corner, and the gap follows from them
    assert fc.hv_estimate > 0 and fc.hv_exact > 0
    assert fc.hv_gap == pytest.approx((fc.hv_estimate - fc.hv_exact) / fc.hv_estimate)
    assert fc.reference[0] < pts[["accuracy (estimate)", "accuracy (exact)"]].min().min()
    assert fc.mean_gap["accuracy"] == pytest.approx(np.mean(np.abs(pts["accuracy (estimate)"] - pts["accuracy (exact)"])))
    with pytest.raises(ValueError, match="at least 1"):
        check_front(res, result, n=0)


def test_cli_search_checks_the_front(pico_store, capsys):
    from taskfair.cli import main
    assert main(["search", "--run", "pico", "--artifacts", str(pico_store), "--samples", "200", "--confirm", "0",
                 "--check-front", "2"]) == 0
    out = capsys.readouterr().out
    assert "the estimated front checked exactly at" in out and "hypervolume: estimated" in out


def test_front_shares_follow_the_noise():
    """Identical predictors drawn independently share the front (none is robustly alone on it); a
    point made clearly better than the rest is on it in (nearly) every resample; skipped points
    (degenerate) are never on it."""
    from taskfair.steering.calibration import SCENARIOS, Scenario, synthetic_results
    from taskfair.steering.views import front_shares
    share = front_shares(synthetic_results(SCENARIOS["null"], n_test=400, n_val=400, rng=2), n_boot=300)
    uni = [v for k, v in share.items() if k[0] in ("uniform", "inject", "fft", "lora")]
    assert all(0 <= v <= 1 for v in uni) and max(uni) < 0.95
    res = synthetic_results(Scenario("fair", bias={"fft": -0.2, "lora": -0.2}, skill={"uniform": -0.1}),
                            n_test=1000, n_val=400, rng=2)
    share = front_shares(res, n_boot=300, skip={("base", "", None)})
    best = max(share, key=share.get)
    assert best[0] == "uniform" and share[best] > 0.5
    assert ("base", "", None) not in share
