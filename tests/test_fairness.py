import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as hst

from taskfair.metrics.fairness import (aggregate_seeds, bootstrap_ci, fairness_table, group_rates,
                               worst_subgroup)


def _random_case(seed, n=400, g=5, t=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    masks = rng.random((g, n)) < rng.uniform(0.05, 0.6, size=(g, 1))  # overlapping groups
    pred = rng.random((t, n)) < rng.uniform(0.2, 0.8, size=(t, 1))
    return pred, y, masks


@pytest.mark.parametrize("seed", range(6))
def test_dpd_and_eod_equal_fairlearn(seed):
    pred, y, masks = _random_case(seed)
    r = group_rates(pred, y, masks)
    for t in range(pred.shape[0]):
        for g in range(masks.shape[0]):
            a = masks[g].astype(int)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dpd = demographic_parity_difference(y, pred[t].astype(int), sensitive_features=a)
                eod = equalized_odds_difference(y, pred[t].astype(int), sensitive_features=a)
            assert abs(r.dpd[t, g] - dpd) < 1e-12
            assert abs(r.eod[t, g] - eod) < 1e-12


def test_rates_match_direct_definitions():
    pred, y, masks = _random_case(7, t=2)
    r = group_rates(pred, y, masks)
    for t in range(2):
        for g in range(masks.shape[0]):
            m, p = masks[g], pred[t]
            assert r.accuracy[t, g] == pytest.approx(np.mean(p[m] == y[m]), abs=1e-12)
            assert r.selection_rate[t, g] == pytest.approx(p[m].mean(), abs=1e-12)
            assert r.tpr[t, g] == pytest.approx(p[m & (y == 1)].mean(), abs=1e-12)
            assert r.fpr[t, g] == pytest.approx(p[m & (y == 0)].mean(), abs=1e-12)
        assert r.overall_accuracy[t] == pytest.approx(np.mean(pred[t] == y), abs=1e-12)
    acc = r.accuracy
    assert np.allclose(r.macro_accuracy, acc.mean(axis=1))
    assert np.allclose(r.accuracy_parity, acc.max(axis=1) - acc.min(axis=1))
    assert np.allclose(r.worst_dpd, r.dpd.max(axis=1))


def test_vectorized_over_points_equals_one_at_a_time():
    pred, y, masks = _random_case(3, t=9)
    full = group_rates(pred, y, masks)
    for t in range(9):
        one = group_rates(pred[t], y, masks)
        np.testing.assert_allclose(one.eod[0], full.eod[t], atol=1e-15)
        np.testing.assert_allclose(one.accuracy[0], full.accuracy[t], atol=1e-15)


def test_empty_group_and_group_without_positives_give_nan_with_reason():
    y = np.array([0, 0, 1, 1, 0, 1])
    pred = np.array([0, 1, 1, 0, 0, 1])
    masks = np.array([[0, 0, 0, 0, 0, 0],   # empty
                      [1, 1, 0, 0, 0, 0],   # no positives
                      [1, 1, 1, 1, 1, 1],   # everyone: no rest
                      [0, 0, 1, 1, 1, 0]], dtype=bool)
    r = group_rates(pred, y, masks)
    assert np.isnan(r.accuracy[0, 0]) and np.isnan(r.dpd[0, 0]) and np.isnan(r.eod[0, 0])
    assert "no rows" in r.reasons[0]
    assert np.isnan(r.tpr[0, 1]) and np.isnan(r.eod[0, 1]) and not np.isnan(r.dpd[0, 1])
    assert "no positives in the group" in r.reasons[1]
    assert np.isnan(r.dpd[0, 2]) and "whole data" in r.reasons[2]
    assert r.reasons[3] == "" and not np.isnan(r.eod[0, 3])
    # summaries skip undefined groups instead of turning NaN
    assert r.worst_eod[0] == pytest.approx(np.nanmax(r.eod[0]))
    table = fairness_table(pred, y, masks, ["empty", "noneg", "all", "ok"])
    row = table[(table.group == "empty") & (table.metric == "dpd")].iloc[0]
    assert np.isnan(row.value) and "no rows" in row.note
    assert table[(table.group == "ok") & (table.metric == "eod")].iloc[0].note == ""


def test_bad_inputs():
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="binary"):
        group_rates(np.array([0.3, 2.0]), y, np.ones((1, 2), bool))
    with pytest.raises(ValueError, match="shape mismatch"):
        group_rates(np.array([0, 1, 1]), y, np.ones((1, 2), bool))


def test_tidy_table_shape_and_labels():
    pred, y, masks = _random_case(1, t=3, g=2)
    t = fairness_table(pred, y, masks, ["a", "b"], points={"method": ["x"] * 3, "lam": [0, .5, 1]})
    assert list(t.columns) == ["method", "lam", "group", "metric", "value", "note"]
    assert set(t.group) == {"a", "b", "(all)"}
    assert len(t) == 3 * (2 * 8 + 5)
    v = t[(t.lam == 0.5) & (t.group == "b") & (t.metric == "dpd")].value.item()
    assert v == pytest.approx(group_rates(pred[1], y, masks).dpd[0, 1])


def test_bootstrap_interval_brackets_the_estimate_and_is_seeded():
    pred, y, masks = _random_case(2, n=800, t=1, g=3)
    ci = bootstrap_ci(pred[0], y, masks, ["a", "b", "c"], n_boot=300, seed=1)
    again = bootstrap_ci(pred[0], y, masks, ["a", "b", "c"], n_boot=300, seed=1)
    pd.testing.assert_frame_equal(ci, again)
    r = group_rates(pred, y, masks)
    for j, g in enumerate("abc"):
        row = ci[(ci.group == g) & (ci.metric == "accuracy")].iloc[0]
        assert row.low < r.accuracy[0, j] < row.high
        assert 0.02 < row.high - row.low < 0.3
    # weights of all ones reproduce the unweighted rates
    w = group_rates(pred, y, masks, weights=np.ones(len(y)))
    np.testing.assert_allclose(w.dpd, r.dpd, atol=1e-15)


def test_aggregate_over_seeds_and_worst_subgroup():
    rows = []
    for seed, (a, b) in zip((13, 14, 15), ((0.1, 0.3), (0.2, 0.4), (0.3, 0.2))):
        for g, v in (("a", a), ("b", b), ("other", 0.9)):
            rows += [{"method": "fft", "seed": seed, "group": g, "metric": m, "value": v}
                     for m in ("dpd", "eod")]
    df = pd.DataFrame(rows)
    agg = aggregate_seeds(df)
    a = agg[(agg.group == "a") & (agg.metric == "dpd")].iloc[0]
    assert a["mean"] == pytest.approx(0.2) and a["n"] == 3
    assert a["sem"] == pytest.approx(np.std([0.1, 0.2, 0.3], ddof=1) / np.sqrt(3))
    assert worst_subgroup(df) == "b"        # "other" is excluded
    assert worst_subgroup(df, exclude=()) == "other"


# ---------------------------------------------------------------- seed means on arrays


@hyp_settings(max_examples=40, deadline=None, derandomize=True)
@given(hst.integers(1, 4), hst.integers(1, 6), hst.booleans(), hst.data())
def test_seed_mean_aligned_equals_the_group_by(n_seeds, n_rows, with_ci, data):
    """The Remix page's fast path gives exactly seed_mean's frame (NaN, notes, intervals, one seed)."""
    from taskfair.metrics.tables import seed_mean, seed_mean_aligned
    keys = pd.DataFrame({"group": [f"g{i // 3}" for i in range(n_rows)], "metric": [f"m{i % 3}" for i in range(n_rows)]})
    value = hst.one_of(hst.just(float("nan")), hst.floats(-1, 1, allow_nan=False))
    frames = []
    for s in range(n_seeds):
        f = keys.copy()
        f["value"] = data.draw(hst.lists(value, min_size=n_rows, max_size=n_rows))
        f["note"] = data.draw(hst.lists(hst.sampled_from(["", "", "no positives", "empty"]), min_size=n_rows,
                                        max_size=n_rows))
        if with_ci:
            f["low"] = f["value"] - 0.1
            f["high"] = f["value"] + 0.1
        frames.append(f.assign(seed=s))
    want = seed_mean(pd.concat(frames), ["group", "metric"])
    got = seed_mean_aligned(frames, ["group", "metric"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), rtol=1e-12, atol=1e-15)


def test_seed_mean_aligned_falls_back_when_the_rows_differ():
    from taskfair.metrics.tables import seed_mean, seed_mean_aligned
    a = pd.DataFrame({"group": ["x", "y"], "metric": ["acc", "acc"], "value": [0.5, 0.7]})
    b = pd.DataFrame({"group": ["y", "x"], "metric": ["acc", "acc"], "value": [0.9, 0.1]})
    got = seed_mean_aligned([a, b], ["group", "metric"])
    pd.testing.assert_frame_equal(got, seed_mean(pd.concat([a, b]), ["group", "metric"]))
    assert got.set_index("group")["mean"].to_dict() == pytest.approx({"x": 0.3, "y": 0.8})


def test_rates_table_reads_every_rate_and_says_why_one_is_undefined():
    """One point's tidy table: each group's accuracy/DPD/EOD as the rates hold them, the headline
    numbers under "(all)", and the group's reason beside a value that is undefined (a group with
    no positive labels has no TPR, so no EOD)."""
    from taskfair.metrics.fairness import group_rates, summary_metrics
    from taskfair.metrics.tables import GROUP_METRICS, HEADLINE_METRICS, rates_table
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 60)
    labels[40:] = 0                                  # group "c": no positives
    masks = np.zeros((3, 60), bool)
    masks[0, :20], masks[1, 20:40], masks[2, 40:] = True, True, True
    pred = rng.integers(0, 2, (2, 60)).astype(bool)
    rates = group_rates(pred, labels, masks)
    t = rates_table(rates, ["a", "b", "c"], point=1)
    assert list(t.columns) == ["group", "metric", "value", "note"] and len(t) == 3 * 3 + 4
    for j, g in enumerate("abc"):
        for m in GROUP_METRICS:
            row = t[(t.group == g) & (t.metric == m)].iloc[0]
            want = getattr(rates, m)[1, j]
            assert (np.isnan(row.value) and np.isnan(want)) or row.value == want
            assert row.note == (rates.reasons[j] if np.isnan(want) else "")
    assert t[(t.group == "c") & (t.metric == "eod")].note.iloc[0]      # undefined, and said why
    summary = summary_metrics(rates)
    overall = t[t.group == "(all)"]
    assert list(overall.metric) == list(HEADLINE_METRICS)
    assert overall.value.tolist() == pytest.approx([summary[m][1] for m in HEADLINE_METRICS])
