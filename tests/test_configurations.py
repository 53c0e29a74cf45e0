"""taskfair.steering.configurations: which configurations are remixes θ0 + Σ λ_g τ_g, and how
λ from a link are read."""
import pandas as pd
import pytest

from taskfair.steering.configurations import VariantSpecError, parse_variant, read_lams, remix_coefficients
from taskfair.steering.remix import estimate_vs_exact

G = ("female", "muslims", "black")


@pytest.mark.parametrize("spec, lams", [
    ("base", (0.0, 0.0, 0.0)), ("uniform:0.4", (0.4, 0.4, 0.4)), ("subgroup:muslims", (0.0, 1.0, 0.0)),
    ("axis:black:-0.5", (0.0, 0.0, -0.5)), ("remix:0.1,0.2,0.3", (0.1, 0.2, 0.3)),
    ("fft", None), ("lora", None), ("inject:female:0.6", None), ("ties:0.7", None), ("linear:0.7", None),
    ("layerwise:" + ",".join(["1/1/1/1"] * 3), None)])
def test_which_configurations_are_remixes(spec, lams):
    assert remix_coefficients(parse_variant(spec, G), G) == lams


def test_lambdas_from_a_link_are_read_strictly():
    assert read_lams("0.5,-1,1.5", G, (-1, 1.5)) == (0.5, -1.0, 1.5)
    for raw, why in (("0_1,0.2,0.3", "not a comma-separated list"), ("nan,0.2,0.3", "not a comma-separated list"),
                     ("0.2,0.3", "has 2 values; this run has 3 subgroups"),
                     ("0.2,0.3,9", "between -1 and 1.5")):
        with pytest.raises(VariantSpecError, match=why):
            read_lams(raw, G, (-1, 1.5), what="?lam")


def test_the_estimate_beside_the_exact_evaluation_puts_the_largest_gap_first():
    est = pd.DataFrame({"group": ["(all)", "(all)", "female"], "metric": ["accuracy", "worst_dpd", "dpd"],
                        "mean": [0.80, 0.10, 0.05]})
    exact = pd.DataFrame({"group": ["(all)", "(all)", "female"], "metric": ["accuracy", "worst_dpd", "dpd"],
                          "mean": [0.78, 0.25, 0.05]})
    cmp = estimate_vs_exact(est, exact)
    assert list(cmp.metric) == ["worst_dpd", "accuracy", "dpd"]
    assert cmp.abs_error.tolist() == pytest.approx([0.15, 0.02, 0.0])
