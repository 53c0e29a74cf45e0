"""The study's findings: calibrated on synthetic runs whose truth is known (false *holds* at most at
the nominal 5% under each null over 200 derandomised runs, a constant predictor never *holds*, a
planted effect found with its stated power), and on a real (pico) run the Overview and the
report show all five with the differences' intervals."""
from __future__ import annotations

import numpy as np
import pytest

from taskfair import load_results
from taskfair.steering.calibration import SCENARIOS, Scenario, synthetic_results, verdict_rates
from taskfair.steering.findings import CONSTANT, VERDICTS, findings

NOMINAL = 0.05


def _share(df, finding, verdict="holds"):
    return float(df[(df.finding == finding) & (df.verdict == verdict)].share.sum())


@pytest.fixture(scope="module")
def null_rates():
    """200 runs where FFT, LoRA, every uniform λ and every injection are the same predictor."""
    return verdict_rates(SCENARIOS["null"], runs=200, n_test=400)


@pytest.mark.parametrize("finding", ["b", "c", "d"])
def test_under_the_null_a_finding_holds_at_most_at_its_nominal_rate(null_rates, finding):
    assert _share(null_rates, finding) <= NOMINAL, null_rates[null_rates.finding == finding]


def test_under_the_null_the_findings_mostly_say_inconclusive(null_rates):
    for f in ("b", "c", "d"):
        assert _share(null_rates, f, "inconclusive") >= 0.8, null_rates[null_rates.finding == f]


def test_accuracy_near_holds_at_most_at_its_nominal_rate_on_the_margin():
    """(a)'s null: task addition exactly NEAR (0.02) below FFT and LoRA."""
    rates = verdict_rates(SCENARIOS["accuracy boundary"], runs=200, n_test=400, start=500)
    assert _share(rates, "a") <= NOMINAL, rates[rates.finding == "a"]


@pytest.mark.parametrize("name", ["constant task addition", "constant everything"])
def test_a_constant_predictor_never_holds(name):
    rates = verdict_rates(SCENARIOS[name], runs=30, n_test=400, start=900)
    assert not len(rates[rates.verdict == "holds"]), rates
    gone = ("a", "b", "c", "d") if name == "constant everything" else ("a", "b", "d")
    for f in gone:
        assert _share(rates, f, "not measured") == 1.0, rates[rates.finding == f]
    res = synthetic_results(SCENARIOS[name], n_test=400, n_val=400, rng=1)
    f = findings(res, bound=False)[1]
    assert f.verdict == CONSTANT and "predicts positive" in f.evidence


@pytest.mark.parametrize("finding, scenario, power", [
    ("b", Scenario("b 0.15", bias={"fft": -0.15, "lora": -0.15}), 0.8),
    ("c", Scenario("c 0.1", inject_bias={"g0": 0.1, "g2": 0.1}), 0.4),
    ("d", Scenario("d 0.25", bias={"fft": {0: -0.25}, "lora": {1: 0.25}, "uniform": {2: 0.25}}), 0.6),
])
def test_a_planted_effect_is_found_with_its_stated_power(finding, scenario, power):
    """Effects of the stated size on 2,000 test examples (bench_findings.py tabulates the rest)."""
    rates = verdict_rates(scenario, runs=20, n_test=2000, start=700)
    assert _share(rates, finding) >= power, rates[rates.finding == finding]


def test_three_seeds_narrow_the_interval_and_include_seed_variation():
    calm = Scenario("b", bias={"fft": -0.15, "lora": -0.15})
    one = findings(synthetic_results(calm, n_test=500, n_val=500, seeds=1, rng=3), bound=False)[1].tests[0]
    three = findings(synthetic_results(calm, n_test=500, n_val=500, seeds=3, rng=3), bound=False)[1].tests[0]
    assert three["seeds"] == 3 and "one seed" in one["note"] and "one seed" not in three["note"]
    assert three["high"] - three["low"] < 0.85 * (one["high"] - one["low"])
    noisy = findings(synthetic_results(Scenario("b", bias={"fft": -0.15, "lora": -0.15}, seed_sd=0.08),
                                       n_test=500, n_val=500, seeds=3, rng=3), bound=False)[1].tests[0]
    assert noisy["high"] - noisy["low"] > three["high"] - three["low"]


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def test_findings_on_a_run_name_their_tests_and_intervals(res):
    got = {f.key: f for f in findings(res, n_boot=400)}
    assert set(got) == {"a", "b", "c", "d", "e"}
    for f in got.values():
        assert f.verdict in VERDICTS or f.verdict == CONSTANT, f
    assert "paired bootstrap" in got["a"].evidence and "non-inferiority" in got["a"].evidence
    assert "Holm-corrected" in got["b"].evidence and "Holm-corrected" in got["c"].evidence
    assert "Holm-corrected" in got["d"].evidence
    # every comparison has an interval around its estimate
    for f in ("a", "b", "c", "d"):
        if got[f].tests:
            for t in got[f].tests:
                assert t["low"] <= t["estimate"] + 1e-9 or np.isnan(t["estimate"]), t
    # (a)'s differences are those of the stored accuracies (task addition at the chosen λ)
    m = res.metrics
    test = m[(m.split == "test") & (m.group == "(all)") & (m.metric == "accuracy")]
    fft = test[test.family == "fft"].value.mean()
    lam = next(iter(res.summary["chosen_lambda"].values()))
    ta = test[(test.family == "uniform") & np.isclose(test.lam, lam)].value.mean()
    if got["a"].tests:
        assert got["a"].tests[0]["estimate"] == pytest.approx(ta - fft, abs=1e-9)
    # (e) read the run's vectors and compared the bound with every measured point
    assert "envelope" in got["e"].evidence and "K =" in got["e"].evidence


def test_the_report_states_the_five_findings(res):
    from taskfair.publishing.htmlreport import html_report
    text = html_report(res, ["fft"], n_boot=0)
    assert "The study's findings on this run" in text and "(a) Task addition keeps accuracy" in text
    assert text.count("<li><b>(") == 5 and "(e)" in text


def test_the_calibration_table_in_benchmarks_is_generated_from_the_committed_result():
    """BENCHMARKS.md's calibration section is exactly what bench/report.py renders from
    bench/results/findings.json (figures regenerated, never typed)."""
    import importlib.util
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("bench_report", root / "bench" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    f = report.load("findings")
    assert f is not None, "bench/results/findings.json is committed"
    block = "\n".join(report.findings_section(f))
    text = (root / "BENCHMARKS.md").read_text()
    assert block in text
    # the goal the table states holds in the committed result
    for c in f["cases"]:
        if c["kind"] == "null":
            assert c["holds"] <= f["alpha"], c
            assert c["runs"] >= (200 if not c["scenario"].startswith("constant") else 50), c
