"""Per-group thresholds (fairlearn's ThresholdOptimizer) over stored margins: fairlearn is the
oracle for the constraints, overlapping memberships are categories of their own, and the points
reach the Frontier, the Overview, the report and the CLI."""
from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from taskfair import load_results
from taskfair.metrics.fairness import group_rates
from taskfair.steering.configurations import VariantSpecError
from taskfair.steering.thresholds import (MIN_CATEGORY, fit_thresholds, sensitive_values, split_thresholds,
                                          threshold_metrics, threshold_points)
from taskfair.steering.views import frontier_points, methods_headline, thresholds_against_merges

GROUPS = ("a", "b", "c")


def _biased(n: int = 3000, seed: int = 0):
    """Margins whose scale differs by group: a single threshold at 0 selects group a far more often."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, n)
    y = (rng.random(n) < np.array([0.5, 0.4, 0.3])[g]).astype(int)
    margins = (2.0 * y - 1.0) + rng.normal(0, 1.2, n) + np.array([1.0, 0.0, -1.0])[g]
    masks = np.stack([g == k for k in range(3)])
    return margins, y, masks, np.asarray(GROUPS, dtype=object)[g]


def test_demographic_parity_thresholds_equalise_selection_rates_as_fairlearn_measures():
    margins, y, masks, cats = _biased()
    fit = fit_thresholds(margins, y, masks, GROUPS, "dp")
    raw = demographic_parity_difference(y, margins > 0, sensitive_features=cats)
    got = demographic_parity_difference(y, fit.predict(margins, masks, GROUPS), sensitive_features=cats)
    assert raw > 0.3 and got < 0.05, (raw, got)


def test_equalized_odds_thresholds_equalise_error_rates_as_fairlearn_measures():
    margins, y, masks, cats = _biased(seed=1)
    fit = fit_thresholds(margins, y, masks, GROUPS, "eo")
    raw = equalized_odds_difference(y, margins > 0, sensitive_features=cats)
    got = equalized_odds_difference(y, fit.predict(margins, masks, GROUPS, random_state=3), sensitive_features=cats)
    assert raw > 0.3 and got < 0.08, (raw, got)


def test_one_against_the_rest_metrics_of_thresholded_decisions_agree_with_fairlearn():
    margins, y, masks, _ = _biased(seed=2)
    pred = fit_thresholds(margins, y, masks, GROUPS, "dp").predict(margins, masks, GROUPS)
    r = group_rates(pred, y, masks)
    for j in range(3):
        assert r.dpd[0, j] == pytest.approx(demographic_parity_difference(y, pred, sensitive_features=masks[j]))
        assert r.eod[0, j] == pytest.approx(equalized_odds_difference(y, pred, sensitive_features=masks[j]))


def test_overlapping_and_missing_memberships_are_categories_of_their_own():
    masks = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
    assert sensitive_values(masks, GROUPS).tolist() == ["a", "a+b", "b", "(none)"]


def test_rare_categories_are_pooled_and_unseen_ones_keep_the_models_decision():
    margins, y, masks, _ = _biased(seed=4)
    # a few examples in both a and c: too few for a threshold of their own
    both = np.flatnonzero(masks[0])[: MIN_CATEGORY - 5]
    masks[2, both] = True
    fit = fit_thresholds(margins, y, masks, GROUPS, "dp")
    assert "a+c" in fit.pooled and "(other)" not in fit.categories  # the pool alone is too thin too
    pred = fit.predict(margins, masks, GROUPS)
    assert np.array_equal(pred[both], margins[both] > 0)
    # a category never seen at fit (an example in b and c) keeps its own decision too
    new = masks.copy()
    new[:, :3] = False
    new[1, :3] = new[2, :3] = True
    assert np.array_equal(fit.predict(margins, new, GROUPS)[:3], margins[:3] > 0)
    assert set(fit.thresholds().category) == set(fit.categories)


def test_bad_input_says_what_is_wrong():
    margins, y, masks, _ = _biased(n=300)
    with pytest.raises(ValueError, match="not one of dp, eo"):
        fit_thresholds(margins, y, masks, GROUPS, "parity")
    bad = margins.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_thresholds(bad, y, masks, GROUPS, "dp")
    with pytest.raises(ValueError, match="at least two subgroups"):
        fit_thresholds(margins, y, np.ones((1, len(y)), dtype=bool), ("a",), "dp")
    assert split_thresholds("fft@dp") == ("fft", "dp") and split_thresholds("uniform:0.4") == ("uniform:0.4", None)
    with pytest.raises(VariantSpecError, match="threshold constraint"):
        split_thresholds("fft@xx")


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def test_threshold_points_of_a_run_join_the_frontier_and_the_overview(res):
    tp = threshold_points(res, ["fft", "lora", "uniform:0.5", "subgroup:nope"], n_boot=50)
    # a configuration the run cannot give margins for is skipped
    assert set(tp.target) == {"fft@dp", "fft@eo", "lora@dp", "lora@eo", "uniform:0.5@dp", "uniform:0.5@eo"}
    assert {"low", "high"} <= set(tp.columns) and set(tp.split) == {"val", "test"}
    # the thresholded FFT decisions, recomputed by hand from the fitted policy, give the same accuracy
    sr = next(iter(res.seeds.values()))
    m = threshold_metrics(res, "fft", "dp", splits=("test",))
    acc = m[(m.group == "(all)") & (m.metric == "accuracy")].value.iloc[0]
    from taskfair.steering.thresholds import threshold_predictions
    pred, _, est = threshold_predictions(res, "fft", "dp", sr.seed)
    assert not est and acc == pytest.approx((pred["test"] == sr.labels["test"]).mean())
    pts = frontier_points(res, extra=tp)
    thr = pts[pts.family == "thresholds"]
    assert len(thr) == 6 and set(thr.config) == set(tp.target)
    assert "FFT + thresholds (DP)" in set(thr.label)
    verdict = thresholds_against_merges(pts)
    assert "subgroup at prediction time" in verdict and "(point estimates)" in verdict
    tested = thresholds_against_merges(pts, results=res)      # paired tests against every merge
    assert "Holm-corrected over the" in tested and "significantly" in tested
    head = methods_headline(res, extra=tp)
    assert {"FFT", "LoRA", "task addition", "FFT + thresholds (EO)"} <= set(head.method)


def test_the_verdict_calls_a_negative_result_when_thresholds_beat_every_merge():
    import pandas as pd
    pts = pd.DataFrame({"family": ["uniform", "axis", "thresholds", "fft"], "label": ["u", "x", "FFT + t", "FFT"],
                        "accuracy": [0.70, 0.72, 0.75, 0.80], "worst_dpd": [0.3, 0.2, 0.05, 0.1],
                        "degenerate": False, "pareto": [False, True, True, True]})
    assert thresholds_against_merges(pts).startswith("Negative result for weight steering: FFT + t")
    pts.loc[1, "worst_dpd"] = 0.01
    assert "than 1 of the 2 merges (point estimates); 1 merge(s) stay on the Pareto front" in thresholds_against_merges(pts)


def test_cli_and_report_show_thresholds(res, pico_store, tmp_path, capsys):
    from taskfair.cli import main
    assert main(["thresholds", "--run", "pico", "--artifacts", str(pico_store), "--config", "fft",
                 "--constraint", "eo", "--csv", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "equalized odds" in out and "worst_dpd after" in out and "prediction time" in out
    assert (tmp_path / "t.csv").read_text().count("\n") == 3  # header + val + test
    assert main(["thresholds", "--run", "pico", "--artifacts", str(pico_store), "--config", "nope"]) == 2
    from taskfair.publishing.htmlreport import html_report
    text = html_report(res, ["fft"], n_boot=0)
    assert "Against per-group thresholds" in text and "FFT + thresholds (DP)" in text
