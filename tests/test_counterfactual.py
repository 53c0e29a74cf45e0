"""Counterfactual identity tests: RedditBias's own term pairs, a one-pass swap that keeps case and
whole words, and per-subgroup flip rates of any configuration, exactly."""
from __future__ import annotations

import numpy as np
import pytest

from taskfair import load_results
from taskfair.data.counterfactual import Swapper, identity_pairs, swap_identity
from taskfair.steering.configurations import VariantSpecError
from taskfair.steering.margins import config_margins
from taskfair.steering.counterfactual import COUNTERFACTUAL_COLUMNS, counterfactual_test


def test_redditbias_ships_the_term_pairs():
    pairs = identity_pairs(["female", "black", "jews", "muslims", "lgbtq", "nobody"])
    assert set(pairs) == {"female", "black", "jews", "muslims", "lgbtq"}  # no list for a group it lacks
    assert ("women", "men") in pairs["female"] and ("muslims", "christians") in pairs["muslims"]
    assert ("black people", "white people") in pairs["black"] and ("jews", "christians") in pairs["jews"]
    # a line without an opposite ("gay is","") gives no pair
    assert "gay" not in dict(pairs["lgbtq"]) and ("gays", "straights") in pairs["lgbtq"]


def test_the_swap_keeps_case_and_whole_words_and_never_swaps_twice():
    s = Swapper([("women", "men"), ("men", "women"), ("black women", "white women")])
    assert s("Women and men. WOMEN! womenfolk") == ("Men and women. MEN! womenfolk", 3)
    assert s("Black women are here") == ("White women are here", 1)  # the longest term first
    assert swap_identity("no identity here", {"women": "men"}) == ("no identity here", 0)


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def test_counterfactual_scores_the_original_comments_as_the_run_did(res):
    cf = counterfactual_test(res, "fft")
    assert list(cf.table.columns) == list(COUNTERFACTUAL_COLUMNS)
    assert set(cf.table.subgroup) == set(res.groups) and (cf.table.swapped > 0).all()
    ex = cf.examples
    assert (ex.text != ex.counterfactual).all() and (ex.terms >= 1).all()
    # the original margins are the stored FFT margins of those test rows (the same model, same texts)
    stored, _ = config_margins(res, "fft", cf.seed, "test")
    assert np.allclose(ex.margin, stored[ex.row.to_numpy()], atol=1e-3)
    t = cf.table.set_index("subgroup")
    for g, part in ex.groupby("subgroup"):
        assert t.loc[g, "flips"] == part.flipped.sum()
        assert t.loc[g, "mean Δmargin"] == pytest.approx((part["counterfactual margin"] - part.margin).mean())
    assert "predictions flip" in cf.summary()


def test_a_swap_to_a_hostile_word_flips_towards_hostile_more_than_a_neutral_swap(res):
    """In the fixture table the label follows a hostile word: replacing the identity term by one
    moves the learned model towards 'hostile'; replacing it by another term of the same group
    moves it far less."""
    sr = next(iter(res.seeds.values()))
    if (config_margins(res, "fft", sr.seed, "test")[0] > 0).mean() in (0.0, 1.0):
        pytest.skip("the fixture's FFT model is a constant predictor")
    hostile = counterfactual_test(res, "fft", pairs={"female": [("women", "awful"), ("girls", "nasty")]})
    neutral = counterfactual_test(res, "fft", pairs={"female": [("women", "ladies"), ("girls", "ladies")]})
    h, n = (x.table.set_index("subgroup").loc["female"] for x in (hostile, neutral))
    assert h["swapped"] == n["swapped"] > 0
    assert h["mean Δmargin"] > n["mean Δmargin"] + 0.1, (h, n)
    assert h["to hostile"] >= h["to not hostile"]
    # subgroups without pairs are reported, with nothing swapped
    assert hostile.table.set_index("subgroup").loc["black", "swapped"] == 0


def test_any_configuration_is_tested_exactly_and_bad_ones_are_refused(res):
    cf = counterfactual_test(res, "remix:-0.5,0.5,0.5", max_per_group=5)
    assert (cf.table.swapped <= 5).all() and cf.config == "remix:-0.5,0.5,0.5"
    with pytest.raises(VariantSpecError, match="thresholds are not one"):
        counterfactual_test(res, "fft@dp")
    with pytest.raises(VariantSpecError, match="seed 99"):
        counterfactual_test(res, "fft", seed=99)


def test_cli_counterfactual(pico_store, tmp_path, capsys):
    from taskfair.cli import main
    assert main(["counterfactual", "--run", "pico", "--artifacts", str(pico_store), "--config", "fft",
                 "--max-per-group", "10", "--csv", str(tmp_path / "cf.csv")]) == 0
    out = capsys.readouterr().out
    assert "flip rate" in out and "fft (seed" in out
    assert (tmp_path / "cf.csv").read_text().count("\n") == 4  # header + 3 subgroups
    assert main(["counterfactual", "--run", "pico", "--artifacts", str(pico_store), "--config", "inject:nobody:1"]) == 2
