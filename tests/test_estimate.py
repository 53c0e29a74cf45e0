"""The instant remix estimate: exact where the model was evaluated, and closer to exact
evaluation than the first-order sum where it was not."""
import numpy as np
import pytest

from taskfair.steering.estimate import RemixEstimator
from taskfair.store.results import load_results


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def test_every_stored_point_is_returned_exactly(res):
    sr = next(iter(res.seeds.values()))
    est = RemixEstimator(sr, "test")
    lams, rows = sr.subgroup_space("test")
    assert len(lams) > len(res.groups) + 3      # axes, uniform sweep, pairs and probes
    for lam, row in zip(lams, rows):
        np.testing.assert_array_equal(est.margins(lam), row)


def test_pair_features_are_the_products_of_each_pair(res):
    est = RemixEstimator(next(iter(res.seeds.values())), "test")
    f = est._pair_features(np.array([[0.5, 2.0, 3.0]]))
    np.testing.assert_allclose(f, [[1.0, 1.5, 6.0]])        # (0,1), (0,2), (1,2)
    assert est.pair_coef.shape == (3, len(next(iter(res.seeds.values())).labels["test"]))


def test_kernel_estimate_is_closer_to_exact_than_first_order(res, pico_store):
    from taskfair.steering.exact import exact_margins, load_theta0
    from taskfair.store import ArtifactStore

    seed, sr = next(iter(res.seeds.items()))
    run = ArtifactStore(pico_store).open("pico", verify=False)
    base = load_theta0(run, seed)
    kernel, first = RemixEstimator(sr, "test", "kernel"), RemixEstimator(sr, "test", "first_order")
    rng = np.random.default_rng(7)
    err_k, err_f = [], []
    for _ in range(6):
        lams = rng.uniform(0, 1, len(res.groups))
        exact = exact_margins(run, seed, lams, base)["test"]
        err_k.append(np.mean((kernel.margins(lams) - exact) ** 2))
        err_f.append(np.mean((first.margins(lams) - exact) ** 2))
    assert np.mean(err_k) < np.mean(err_f)
