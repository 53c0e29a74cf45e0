"""The inference module: paired resamples equal the weighted rates (oracle), contrasts of a point
with itself are exactly zero, pairing narrows a difference's interval, worst cases name what they
leave out, the two-level interval widens with seed-to-seed variation, Holm, front membership."""
from __future__ import annotations

import numpy as np
import pytest

from taskfair.metrics.fairness import group_rates
from taskfair.metrics.inference import (ONE_SEED, combine, contrast, front_membership, holm, point_set,
                                        resample_counts, slope_weights)


def _data(n=400, T=4, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.45).astype(np.int8)
    g = rng.integers(0, 3, n)
    masks = np.stack([g == j for j in range(3)])
    pred = rng.random((T, n)) < 0.5
    return pred, y, masks


def test_resample_counts_are_paired_by_seed_and_split():
    a = resample_counts(50, seed=13, split="test", n_boot=20)
    assert a.shape == (20, 50) and (a.sum(1) == 50).all()
    assert np.array_equal(a, resample_counts(50, seed=13, split="test", n_boot=20))
    assert not np.array_equal(a, resample_counts(50, seed=13, split="val", n_boot=20))
    assert not np.array_equal(a, resample_counts(50, seed=14, split="test", n_boot=20))


def test_every_resample_equals_the_weighted_rates():
    pred, y, masks = _data()
    counts = resample_counts(len(y), seed=1, split="test", n_boot=40)
    ps = point_set(pred, y, masks, ["a", "b", "c"], keys=list(range(len(pred))), seed=1, split="test", counts=counts)
    est = group_rates(pred, y, masks)
    assert np.allclose(ps.value["group:dpd"], est.dpd, equal_nan=True)
    assert np.allclose(ps.value["worst_eod"], est.worst_eod)
    for b in (0, 17, 39):
        r = group_rates(pred, y, masks, weights=np.broadcast_to(counts[b], pred.shape))
        assert np.allclose(ps.reps["group:eod"][b], r.eod, equal_nan=True)
        assert np.allclose(ps.reps["accuracy"][b], r.overall_accuracy)
        assert np.allclose(ps.reps["worst_dpd"][b], r.worst_dpd)
        assert np.allclose(ps.reps["macro_accuracy"][b], r.macro_accuracy)


def test_a_point_against_itself_is_exactly_zero_and_pairing_narrows_the_interval():
    rng = np.random.default_rng(3)
    pred, y, masks = _data(n=600, T=1)
    near = pred.copy()
    flip = rng.random(pred.shape[1]) < 0.05     # a second point that differs on 5% of the examples
    near[0, flip] = ~near[0, flip]
    ps = point_set(np.concatenate([pred, pred, near]), y, masks, ["a", "b", "c"], keys=["p", "same", "near"],
                   seed=0, split="test", n_boot=500)
    same = contrast([ps], lambda s: {"p": 1.0, "same": -1.0}, "accuracy")
    assert same.estimate == 0 and same.low == 0 and same.high == 0 and same.p_two_sided() == 1.0
    paired = contrast([ps], lambda s: {"p": 1.0, "near": -1.0}, "accuracy")
    # an unpaired interval: the two points' own replicates, resampled independently
    other = point_set(near, y, masks, ["a", "b", "c"], keys=["near"], seed=99, split="test", n_boot=500)
    unpaired = ps.series("accuracy")[1][:, 0] - other.series("accuracy")[1][:, 0]
    assert paired.high - paired.low < 0.5 * (np.quantile(unpaired, 0.975) - np.quantile(unpaired, 0.025))


def test_worst_case_names_what_it_leaves_out_and_says_when_conditional():
    rng = np.random.default_rng(5)
    n = 300
    y = (rng.random(n) < 0.5).astype(np.int8)
    masks = np.zeros((3, n), dtype=bool)
    masks[0, :150] = True
    masks[1, 150:] = True
    masks[2, 10] = True           # one row, so most resamples leave it out entirely
    y[10] = 1
    pred = rng.random((1, n)) < 0.5
    ps = point_set(np.concatenate([pred, pred]), y, masks, ["a", "b", "tiny"], keys=["x", "y"], seed=0,
                   split="test", n_boot=300)
    assert "tiny" in ps.left_out[0]["worst_eod"]        # no negatives: its EOD is undefined …
    assert "tiny" not in ps.left_out[0]["worst_dpd"]    # … but its DPD is, and counts
    iv = contrast([ps], lambda s: {"x": 1.0}, "worst_eod")
    assert any("leaves out tiny" in n for n in iv.notes)
    iv = contrast([ps], lambda s: {"x": 1.0}, "worst_dpd")
    assert iv.dropped > 0.2                             # resamples without the one tiny row are dropped
    assert not any("leaves out" in n for n in iv.notes) and any("conditional" in n for n in iv.notes)
    assert ONE_SEED in iv.notes


def test_the_two_level_interval_includes_seed_to_seed_variation():
    rng = np.random.default_rng(0)
    reps = [rng.normal(0, 0.01, 1000) + m for m in (0.0, 0.0, 0.0)]
    calm = combine([0.0, 0.0, 0.0], reps)
    spread = combine([-0.1, 0.0, 0.1], [r + d for r, d in zip(reps, (-0.1, 0.0, 0.1))])
    assert calm.seeds == 3 and ONE_SEED not in calm.notes
    assert (spread.high - spread.low) > 5 * (calm.high - calm.low)
    one = combine([0.0], reps[:1])
    assert ONE_SEED in one.notes and abs((one.high - one.low) - (np.quantile(reps[0], .975) - np.quantile(reps[0], .025))) < 1e-12


def test_holm_matches_the_step_down_by_hand():
    adj = holm([0.01, 0.04, 0.03, 0.20])
    assert np.allclose(adj, [0.04, 0.09, 0.09, 0.20])
    assert np.isnan(holm([np.nan, 0.01])[0]) and holm([np.nan, 0.01])[1] == 0.01


def test_slope_weights_give_the_least_squares_slope():
    lams = [0.0, 0.5, 1.0, 2.0]
    v = np.array([1.0, 2.0, 2.5, 5.0])
    assert np.isclose(slope_weights(lams) @ v, np.polyfit(lams, v, 1)[0])
    with pytest.raises(ValueError, match="two distinct"):
        slope_weights([1.0, 1.0])


def test_front_membership_counts_resamples():
    acc = np.array([[0.9, 0.8, 0.7], [0.9, 0.85, 0.7], [0.8, 0.9, 0.7]])
    unf = np.array([[0.2, 0.1, 0.3], [0.2, 0.25, 0.3], [0.2, 0.1, 0.3]])
    share = front_membership(acc, unf)
    assert np.allclose(share, [2 / 3, 2 / 3, 0.0])   # point 0 is dominated in the third
    acc[0, 0] = np.nan
    assert np.isclose(front_membership(acc, unf)[0], 1 / 3)   # undefined: off the front


def test_a_group_interval_agrees_with_fairlearns_bootstrap():
    """fairlearn's MetricFrame bootstrap is the reference for one group's interval: the same
    percentile method over other resamples agrees to within resampling noise."""
    from fairlearn.metrics import MetricFrame, selection_rate
    pred, y, masks = _data(n=800, T=1, seed=8)
    sf = np.argmax(masks, axis=0)
    mf = MetricFrame(metrics=selection_rate, y_true=y, y_pred=pred[0].astype(int), sensitive_features=sf,
                     n_boot=400, ci_quantiles=[0.025, 0.975], random_state=0)
    ps = point_set(pred, y, masks, ["0", "1", "2"], keys=["x"], seed=0, split="test", n_boot=400)
    for j in range(3):
        lo, hi = mf.by_group_ci[0].iloc[j], mf.by_group_ci[1].iloc[j]
        ours = np.quantile(ps.reps["group:selection_rate"][:, 0, j], [0.025, 0.975])
        assert abs(ours[0] - lo) < 0.015 and abs(ours[1] - hi) < 0.015, (j, ours, lo, hi)


def test_points_combined_one_by_one_keep_their_seed_level_correlation():
    """Two points whose seeds deviate alike (a seed that trained well helps both) differ by a
    constant in every two-level replicate: the seed-level draws are shared, so a front built from
    points combined separately does not invent noise in their difference."""
    rng = np.random.default_rng(4)
    reps = [rng.normal(0, 0.005, 1000) for _ in range(3)]
    a = combine([0.70, 0.75, 0.80], [r + m for r, m in zip(reps, (0.70, 0.75, 0.80))])
    b = combine([0.72, 0.77, 0.82], [r + m for r, m in zip(reps, (0.72, 0.77, 0.82))])
    assert a.high - a.low > 0.05                           # each is wide: the seeds disagree
    assert np.allclose(b.reps - a.reps, 0.02)              # their difference is not
    share = front_membership(np.stack([a.reps, b.reps], 1), np.stack([a.reps * 0, b.reps * 0], 1))
    assert share[1] == 1.0 and share[0] == 0.0             # b dominates in every replicate
