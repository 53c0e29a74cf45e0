import pytest

from precompute.profiles import load_profile, profile_names
from taskfair.config import ConfigError, StudyConfig


def test_shipped_profiles_validate():
    assert {"quick", "paper-gender", "paper-race", "paper-intersectional", "smollm2"} <= set(profile_names())
    q = load_profile("quick")
    assert isinstance(q, StudyConfig) and q.model == "minilm" and q.dataset.name == "redditbias"
    assert q.grids.uniform == tuple(round(0.1 * i, 6) for i in range(11))
    for name in ("paper-gender", "paper-race"):
        p = load_profile(name)
        assert p.dataset.name == "mhs" and p.seeds == (13, 14, 15)
        t = p.train
        assert (t.epochs, t.learning_rate, t.scheduler, t.warmup_ratio, t.weight_decay) == \
            (4, 1e-5, "cosine", 0.01, 0.001)
        assert t.batch_size * t.grad_accum == 16
        assert (p.lora.r, p.lora.alpha, p.lora.dropout) == (8, 16, 0.0)
        assert p.grids.inject == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert load_profile("paper-race").dataset.attribute == "race"
    assert load_profile("smollm2").model == "smollm2"


def test_overrides_and_roundtrip():
    c = load_profile("quick", {"train.epochs": 2, "seeds": [1, 2], "model": "tiny-bert"})
    assert c.train.epochs == 2 and c.seeds == (1, 2) and c.model == "tiny-bert"
    assert load_profile(c.to_dict()) == c


@pytest.mark.parametrize("override, pattern", [
    ({"train.epochs": "many"}, r"train\.epochs: expected a number"),
    ({"train.learning_rate": -1.0}, r"train: .*learning_rate=-1\.0"),
    ({"train.bogus": 1}, r"train: unknown field\(s\) \['bogus'\]"),
    ({"colour": "red"}, r"unknown field\(s\) \['colour'\]"),
    ({"seeds": []}, r"seeds: give at least one seed"),
    ({"seeds": [1, 1]}, r"seeds: duplicate"),
    ({"grids.uniform": []}, r"grids\.uniform: the grid is empty"),
    ({"grids.uniform": [0.0, -0.5]}, r"grids\.uniform: λ must be ≥ 0 here \(negative λ belong on grids\.axis"),
    ({"grids.axis": [0.0, -12.0]}, r"grids\.axis: every λ must be a finite number from -10 to 10"),
    ({"grids.lam_range": [0.5, 1.5]}, r"grids\.lam_range: give \[low, high\] with -10 ≤ low ≤ 0"),
    ({"grids.lam_range": [0.0]}, r"grids\.lam_range"),
    ({"grids.pairs": [0.5, float("inf")]}, r"grids\.pairs\[1\]: expected a finite number"),
    ({"grids.probes": -3}, r"grids\.probes: must be between 0 and 1000"),
    ({"grids.probes": "many"}, r"grids\.probes"),
    ({"grids.axis": [0.0, float("nan")]}, r"grids\.axis\[1\]: expected a finite number"),
    ({"train.precision": "fp8"}, r"train\.precision: 'fp8' is not one of"),
    ({"dataset.name": "mhs"}, r"dataset\.attribute"),
    ({"dataset.name": "table"}, r"dataset\.path"),
    ({"seeds": "13"}, r"seeds: expected a list"),
    ({"lora.r": 0}, r"lora\.r"),
])
def test_bad_configs_name_the_field(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_profile("quick", override)


def test_unknown_profile_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no config file or profile 'nope'.*quick"):
        load_profile("nope")
    bad = tmp_path / "c.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(bad)
