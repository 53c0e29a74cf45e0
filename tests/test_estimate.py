"""The instant remix estimate: exact where the model was evaluated, and closer to exact
evaluation than the first-order sum where it was not."""
import numpy as np
import pandas as pd
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
    from taskfair.steering.exact import load_theta0, merged_model, model_margins
    from taskfair.store import ArtifactStore

    seed, sr = next(iter(res.seeds.items()))
    run = ArtifactStore(pico_store).open("pico", verify=False)
    base = load_theta0(run, seed)
    kernel, first = RemixEstimator(sr, "test", "kernel"), RemixEstimator(sr, "test", "first_order")
    rng = np.random.default_rng(7)
    err_k, err_f = [], []
    for _ in range(6):
        lams = rng.uniform(0, 1, len(res.groups))
        exact = model_margins(run, seed, merged_model(run, seed, lams, base), base[1])["test"]
        err_k.append(np.mean((kernel.margins(lams) - exact) ** 2))
        err_f.append(np.mean((first.margins(lams) - exact) ** 2))
    assert np.mean(err_k) < np.mean(err_f)


def _without(sr, lam):
    """The seed's stored predictions with every copy of the point ``lam`` removed."""
    import dataclasses
    files = {}
    for name, (points, arrays) in sr.files.items():
        if "coef" not in arrays:
            files[name] = (points, arrays)
            continue
        keep = ~np.all(np.isclose(arrays["coef"][:, 1:], lam, atol=1e-6), axis=1) | (arrays["coef"][:, 0] != 0)
        files[name] = (points[keep].reset_index(drop=True), {k: v[keep] for k, v in arrays.items()})
    return dataclasses.replace(sr, files=files)


def test_expected_error_is_the_error_with_each_point_left_out(res):
    """The leave-one-out margins behind the expected error equal an estimator built without that
    point (same length scale), and the expected error is the mean error of the metrics there."""
    from taskfair.metrics.fairness import group_rates
    from taskfair.steering.estimate import expected_error
    sr = next(iter(res.seeds.values()))
    est = RemixEstimator(sr, "test")
    lams, loo, true = est.loo_margins()
    assert len(lams) >= 5 and ((lams > 0).sum(axis=1) >= 2).all()   # the uniform sweep, pairs, probes
    for i in (0, len(lams) // 2, len(lams) - 1):
        alone = RemixEstimator(_without(sr, lams[i]), "test", length_scale=est.length_scale)
        np.testing.assert_allclose(loo[i], alone.margins(lams[i]), rtol=1e-6, atol=1e-6)
        assert not np.allclose(loo[i], true[i])   # left out: not the stored margins
    err = est.expected_error()
    got, want = group_rates(loo > 0, sr.labels["test"], sr.masks["test"]), group_rates(true > 0, sr.labels["test"], sr.masks["test"])
    assert err["worst_eod"] == pytest.approx(np.nanmean(np.abs(got.worst_eod - want.worst_eod)))
    assert err["accuracy"] == pytest.approx(np.mean(np.abs(got.overall_accuracy - want.overall_accuracy)))
    assert all(0 <= v <= 1 for v in err.values())
    # at a stored point the estimate is the stored prediction: no error
    assert set(expected_error([est], lams[0]).values()) == {0.0}
    assert expected_error([est], [0.123] * len(res.groups)) == err


@pytest.mark.parametrize("n_boot", [0, 20])
def test_remix_view_equals_the_separate_answers(res, n_boot):
    """One call per slider move (:func:`remix_view`) gives what the five separate questions gave:
    both splits' estimates, constant predictor or not, expected error, extrapolation — with two
    estimators per split (seeds), and undefined seeds left out of the headline mean."""
    from taskfair.metrics.tables import undefined
    from taskfair.steering.configurations import extrapolation
    from taskfair.steering.estimate import expected_error, remix_health, remix_metrics
    from taskfair.steering.remix import remix_view
    sr = next(iter(res.seeds.values()))
    ests = {sp: [RemixEstimator(sr, sp), RemixEstimator(sr, sp, "first_order")] for sp in ("val", "test")}
    stored = sr.subgroup_space("test")[0]
    k = len(res.groups)
    points = [stored[0], stored[len(stored) // 2], [0.3] * k, np.linspace(-0.5, 1.2, k), [5.0] * k, [-3.0] * k]
    for lams in points:
        for split in ("val", "test"):
            v = remix_view(res, ests, lams, split, n_boot=n_boot)
            want = remix_metrics(ests[split], lams, n_boot=n_boot)
            pd.testing.assert_frame_equal(v.table, want)
            for sp in ("val", "test"):
                t = remix_metrics(ests[sp], lams, n_boot=0)
                overall = t[t.group == "(all)"].set_index("metric")["mean"]
                assert v.headline[sp].keys() == {"accuracy", "macro_accuracy", "worst_dpd", "worst_eod"}
                for m, x in v.headline[sp].items():
                    assert x == pytest.approx(overall[m], nan_ok=True, abs=1e-12)
            assert v.degenerate == remix_health(ests[split], lams)
            assert v.error == expected_error(ests[split], lams)
            assert v.extrapolation == extrapolation(res, "remix:" + ",".join(f"{float(x):g}" for x in lams))
            assert list(v.undefined) == undefined(want)
    assert remix_view(res, ests, [-3.0] * k, "test").extrapolation   # outside the stored box: said
    with pytest.raises(ValueError, match="no estimators for the split 'train'"):
        remix_view(res, ests, [0.3] * k, "train")
    with pytest.raises(ValueError, match=f"{k + 1} λ given for {k} subgroups"):
        remix_view(res, ests, [0.3] * (k + 1), "test")


def test_headline_leaves_out_the_seeds_where_a_number_is_undefined():
    """A seed whose labels are all negative has no true-positive rate, so its worst EOD is
    undefined: the headline mean is the other seed's, as the table's seed mean is; NaN when no
    seed defines it."""
    from types import SimpleNamespace
    from taskfair.steering.estimate import metrics_of
    from taskfair.steering.remix import estimated_headline
    rng = np.random.default_rng(0)
    masks = np.zeros((2, 40), bool)
    masks[0, :20] = masks[1, 20:] = True

    def seed(s, labels):
        return SimpleNamespace(labels=labels, masks=masks, groups=["a", "b"], results=SimpleNamespace(seed=s))
    ok, blank = seed(1, rng.integers(0, 2, 40)), seed(2, np.zeros(40, int))
    preds = [rng.integers(0, 2, 40).astype(bool), rng.integers(0, 2, 40).astype(bool)]
    table = metrics_of([ok, blank], preds, n_boot=0)
    overall = table[table.group == "(all)"].set_index("metric")["mean"]
    got = estimated_headline([ok, blank], preds)
    assert np.isfinite(got["worst_eod"]) and got["worst_eod"] == pytest.approx(estimated_headline([ok], preds[:1])["worst_eod"])
    assert all(got[m] == pytest.approx(overall[m]) for m in got)
    assert np.isnan(estimated_headline([blank], preds[1:])["worst_eod"])


def test_the_slider_path_of_the_metrics_equals_the_group_by(res):
    """Without intervals the estimate's table is built on arrays; it is exactly the seed mean
    (:func:`seed_mean`, a pandas group-by) of each seed's :func:`rates_with_ci` table."""
    from taskfair.metrics.tables import rates_with_ci, seed_mean
    from taskfair.steering.estimate import metrics_of
    sr = next(iter(res.seeds.values()))
    ests = [RemixEstimator(sr, "test"), RemixEstimator(sr, "test", "first_order"), RemixEstimator(sr, "test", "diagonal")]
    k = len(res.groups)
    for n in (1, 3):
        for lams in ([0.3] * k, np.linspace(-0.5, 1.2, k), [-3.0] * k):
            preds = [e.margins(lams) > 0 for e in ests[:n]]
            want = seed_mean(pd.concat([rates_with_ci(p, e.labels, e.masks, e.groups).assign(seed=i)
                                        for i, (e, p) in enumerate(zip(ests, preds))]), ["group", "metric"])
            pd.testing.assert_frame_equal(metrics_of(ests[:n], preds, n_boot=0), want, rtol=1e-12, atol=1e-15)
