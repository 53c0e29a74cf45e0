"""Signed coefficients (task negation): negative λ are stored on each subgroup's axis, parsed,
estimated inside the stored region (an extrapolation beyond it), searched, evaluated exactly and
exported."""
from __future__ import annotations

import json

import numpy as np
import pytest

from taskfair import load_results
from taskfair.steering.configurations import VariantSpecError, extrapolation, lam_range, parse_variant
from taskfair.steering.margins import config_margins
from taskfair.steering.estimate import RemixEstimator


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def test_negative_lambda_is_a_configuration_and_its_range_is_the_runs(res):
    g = res.groups[0]
    assert parse_variant(f"axis:{g}:-0.5", res.groups).lam == -0.5
    assert parse_variant("remix:-1,0.5,1.5", res.groups).lams == (-1.0, 0.5, 1.5)
    with pytest.raises(VariantSpecError, match="from -10 to 10"):
        parse_variant("uniform:-11", res.groups)
    assert lam_range(res) == (-1.0, 1.5)
    # the precompute stored the axis at λ = -0.5 for every subgroup
    lams, _ = res.seeds[next(iter(res.seeds))].margins("axis", g, "test")
    assert -0.5 in lams


def test_the_estimate_covers_the_stored_negative_points_and_flags_what_lies_beyond(res):
    sr = next(iter(res.seeds.values()))
    est = RemixEstimator(sr, "test")
    g = res.groups[0]
    stored, _ = config_margins(res, f"axis:{g}:-0.5", sr.seed)
    lams = [-0.5 if x == g else 0.0 for x in res.groups]
    assert np.array_equal(est.margins(lams), stored)
    assert extrapolation(res, "remix:" + ",".join(f"{v:g}" for v in lams)) == ""
    inside = [-0.25 if x == g else 0.0 for x in res.groups]
    assert np.isfinite(est.margins(inside)).all()
    assert extrapolation(res, "remix:" + ",".join(f"{v:g}" for v in inside)) == ""
    assert f"λ_{g}=-1" in extrapolation(res, "remix:" + ",".join("-1" if x == g else "0" for x in res.groups))
    # inside the box of single-axis points, but mixing subgroups with a negative λ: not covered
    assert "mixes subgroups with negative λ" in extrapolation(res, "remix:" + ",".join(["-0.25"] * len(res.groups)))


def test_exact_evaluation_at_a_negative_lambda_reproduces_the_stored_point(res):
    from taskfair.metrics.tables import rates_with_ci
    from taskfair.steering.exact import exact_metrics
    sr = next(iter(res.seeds.values()))
    g = res.groups[-1]
    spec = "remix:" + ",".join("-0.5" if x == g else "0" for x in res.groups)
    got = exact_metrics(res, spec, splits=("test",))
    stored, _ = config_margins(res, f"axis:{g}:-0.5", sr.seed)
    want = rates_with_ci(stored > 0, sr.labels["test"], sr.masks["test"], res.groups)
    merged = got.merge(want, on=["group", "metric"], suffixes=("", "_stored"))
    assert np.allclose(merged.value, merged.value_stored, equal_nan=True)


def test_search_explores_negative_lambda_and_marks_extrapolations(res):
    from taskfair.steering.search import search_coefficients
    r = search_coefficients(res, n_random=300, rounds=1)
    lam_cols = [c for c in r.candidates.columns if c.startswith("λ ")]
    values = r.candidates[lam_cols].to_numpy()
    assert values.min() < 0 and values.max() > 1.0 and values.min() >= -1.0 and values.max() <= 1.5
    far = r.candidates[(r.candidates[lam_cols] > 1.0).any(axis=1)]
    assert far.extrapolated.all()
    inside = (values >= -0.5).all(1) & (values <= 1.0).all(1)
    # the stored points that mix subgroups are all ≥ 0: a mix with a negative λ is not covered
    mixes_negative = ((np.abs(values) > 1e-9).sum(1) >= 2) & (values < 0).any(1)
    assert not r.candidates[inside & ~mixes_negative].extrapolated.any()
    assert r.candidates[inside & mixes_negative].extrapolated.all()
    with pytest.raises(ValueError, match="low < high"):
        search_coefficients(res, n_random=10, lam_range=(1.0, 0.0))


def test_a_negative_remix_exports_with_its_sign_in_the_name_and_the_record(res, tmp_path):
    from taskfair.publishing.export import default_export_name, export_configuration
    spec = "remix:" + ",".join(["-0.5"] + ["0.25"] * (len(res.groups) - 1))
    name = default_export_name("pico", 13, spec)
    assert "m0.5" in name and name != default_export_name("pico", 13, spec.replace("-", ""))
    done = export_configuration(res, spec, tmp_path / name, n_boot=0)
    from taskfair.publishing.provenance import record_recipe
    record = json.loads((done.path / "provenance.json").read_text())
    assert record_recipe(record).as_dict[res.groups[0]] == -0.5 and record["configuration"] == spec
    # every export's model card carries the counterfactual identity test
    card = (done.path / "README.md").read_text()
    assert "## Counterfactual identity test" in card and "flip rate" in card
    summary = json.loads((done.path / "metrics.json").read_text())
    assert {r["subgroup"] for r in summary["counterfactual"]} == set(res.groups)
