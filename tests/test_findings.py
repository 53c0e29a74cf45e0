"""The study's findings, checked on a run: verdicts follow the stored numbers, and the Overview
and the HTML report show them."""
from __future__ import annotations

import pytest

from taskfair import load_results
from taskfair.steering.findings import NEAR_ACCURACY, _accuracy, _fairness, findings


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def _h(**means):
    """A headline lookup: (method, metric) → mean (no intervals)."""
    out = {}
    for key, v in means.items():
        method, metric = key.split("__")
        method = {"ta": "task addition", "fft": "FFT", "lora": "LoRA"}[method]
        out[(method, metric)] = {"mean": v, "low": float("nan"), "high": float("nan")}
    return out


@pytest.mark.parametrize("ta, verdict", [(0.80, "holds"), (0.79, "holds"), (0.76, "partly"), (0.60, "does not hold")])
def test_accuracy_verdict_follows_the_gap(ta, verdict):
    f = _accuracy(_h(ta__accuracy=ta, fft__accuracy=0.80, lora__accuracy=0.78))
    assert f.verdict == verdict, (f, NEAR_ACCURACY)
    assert "0.800" in f.evidence and f"{ta:.3f}" in f.evidence


@pytest.mark.parametrize("ta, verdict", [((0.1, 0.1), "holds"), ((0.1, 0.5), "partly"), ((0.6, 0.6), "does not hold")])
def test_fairness_verdict_counts_the_comparisons(ta, verdict):
    f = _fairness(_h(ta__worst_dpd=ta[0], ta__worst_eod=ta[1], fft__worst_dpd=0.3, fft__worst_eod=0.3,
                     lora__worst_dpd=0.2, lora__worst_eod=0.4))
    assert f.verdict == verdict, f


def test_findings_on_a_run_match_its_metrics(res):
    got = {f.key: f for f in findings(res)}
    assert set(got) == {"a", "b", "c", "d"}
    assert all(f.verdict in ("holds", "partly", "does not hold") for f in got.values())
    m = res.metrics
    test = m[(m.split == "test") & (m.group == "(all)")]
    fft_acc = test[(test.family == "fft") & (test.metric == "accuracy")].value.mean()
    assert f"FFT {fft_acc:.3f}" in got["a"].evidence
    # (d): the fairest method per subgroup, recomputed here from the stored per-group DPD
    per = m[(m.split == "test") & (m.metric == "dpd") & (m.family.isin(["fft", "lora"]))]
    for g in res.groups:
        assert f"{g} → " in got["d"].evidence
    # (c): one change per subgroup
    assert all(f"{g} " in got["c"].evidence for g in res.groups)
    assert len(per)


def test_the_report_states_the_findings(res):
    from taskfair.publishing.htmlreport import html_report
    text = html_report(res, ["fft"], n_boot=0)
    assert "The study's findings on this run" in text and "(a) Task addition keeps accuracy" in text
    assert text.count("<li><b>(") == 4


def test_accuracy_overlap_is_judged_against_the_better_method():
    h = _h(ta__accuracy=0.70, fft__accuracy=0.80, lora__accuracy=0.60)
    h[("task addition", "accuracy")].update(low=0.65, high=0.75)
    h[("FFT", "accuracy")].update(low=0.76, high=0.84)
    h[("LoRA", "accuracy")].update(low=0.50, high=0.70)   # overlaps LoRA's, not FFT's
    assert _accuracy(h).verdict == "does not hold"
    h[("FFT", "accuracy")].update(low=0.74)
    assert _accuracy(h).verdict == "partly"
    h[("FFT", "accuracy")]["mean"] = float("nan")
    assert _accuracy(h).verdict == "not measured"
