"""The scaling bound: the envelope holds for every perturbation of margins within its radius
(the argument of taskfair/steering/bound.py, checked on random cases), it widens with the
radius (λ‖τ‖), and on a real run K is fitted on validation and checked on test."""
from __future__ import annotations

import numpy as np
import pytest

from taskfair.metrics.fairness import group_rates
from taskfair.steering.bound import envelope, margin_rate, scaling_bound


@pytest.mark.parametrize("case", range(40))
def test_every_perturbation_within_the_radius_stays_inside_the_envelope(case):
    rng = np.random.default_rng(case)
    n = int(rng.integers(30, 300))
    f = rng.normal(0, 1, n)
    y = (rng.random(n) < rng.uniform(0.2, 0.8)).astype(np.int8)
    mask = rng.random(n) < rng.uniform(0.1, 0.5)
    rho = float(rng.uniform(0, 1.5))
    env = envelope(f, y, mask, rho)
    for _ in range(20):
        # any change of at most rho per example, including the adversarial push toward zero and across
        step = rng.uniform(-rho, rho, n) if rng.random() < 0.5 else -np.sign(f) * rho * rng.random(n)
        r = group_rates(((f + step) > 0)[None, :], y, mask[None, :])
        for metric in ("dpd", "eod"):
            lo, hi = env[metric]
            v = float(getattr(r, metric)[0, 0])
            if np.isfinite(v):
                assert lo - 1e-12 <= v <= hi + 1e-12, (metric, v, lo, hi)


def test_the_envelope_widens_with_the_radius_and_is_a_point_at_zero():
    rng = np.random.default_rng(1)
    f, y, mask = rng.normal(0, 1, 500), (rng.random(500) < 0.5).astype(np.int8), rng.random(500) < 0.3
    r = group_rates((f > 0)[None, :], y, mask[None, :])
    lo0, hi0 = envelope(f, y, mask, 0.0)["dpd"]
    assert lo0 == pytest.approx(r.dpd[0, 0]) and hi0 == pytest.approx(r.dpd[0, 0])
    widths = [np.subtract(*envelope(f, y, mask, rho)["dpd"][::-1]) for rho in (0.05, 0.2, 0.8, 3.0)]
    assert widths == sorted(widths) and widths[-1] > widths[0]


def test_the_bound_on_a_run(pico_store):
    from taskfair import load_results
    res = load_results(pico_store, "pico")
    t = scaling_bound(res)
    assert {"uniform", "axis", "inject"} <= set(t.family)
    assert (t.lower <= t.upper + 1e-12).all() and t.K.gt(0).all()
    # at the reference point the envelope is the measured value itself
    ref = t[np.isclose(t.lam, t.ref_lam)]
    assert np.allclose(ref.measured, ref.reference) and ref.inside.astype(bool).all()
    # a larger norm gives a proportionally larger radius at the same step (the norms' role)
    sr = next(iter(res.seeds.values()))
    norms = {k: 2.0 * v for k, v in __import__("taskfair.steering.bound", fromlist=["x"]).path_norms(res, sr.seed).items()}
    assert margin_rate(sr, norms) == pytest.approx(margin_rate(sr, {k: v / 2 for k, v in norms.items()}) / 2)


def test_the_bound_can_fail_and_says_where():
    """A path whose margins move far faster per unit of λ‖τ‖ than the others' (here: its vector's
    norm said to be tiny) leaves the envelope that K from the other paths allows: (e) is not
    *holds*, and the evidence names where. With honest norms the same run's envelope is wide."""
    from taskfair.steering.calibration import SCENARIOS, synthetic_results
    from taskfair.steering.findings import _bound
    res = synthetic_results(SCENARIOS["null"], n_test=400, n_val=400, rng=5)
    seed = next(iter(res.seeds))
    fair = {("uniform", ""): 1.0, **{("inject", g): 1.0 for g in res.groups}}
    lying = {**fair, ("inject", "g0"): 1e-3}
    f = _bound(res, norms={seed: lying})
    assert f.verdict in ("partly", "does not hold") and "Leaves the envelope at inject:g0" in f.evidence
    t = scaling_bound(res, norms={seed: fair})
    assert t[t.lam != t.ref_lam].inside.astype(bool).all()
    assert _bound(res, norms={seed: fair}).verdict in ("holds", "inconclusive")
