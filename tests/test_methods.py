"""The merge-method registry (taskfair.methods): every method says its parameters, defaults and
ranges, and a method added in one place — one decorated function — reaches the config, the
precompute's grid, the Frontier and the Export page."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import PICO_OVERRIDES
from taskfair.config import ConfigError, load_config, method_params
from taskfair.methods import MERGE_METHODS, Param, grid_methods, method_spec, register_merge_method
from ui import charts

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_methods_describe_themselves():
    assert list(MERGE_METHODS)[:4] == ["task_arithmetic", "ties", "dare", "linear"]
    assert "task_arithmetic" not in grid_methods() and {"ties", "dare", "linear"} <= set(grid_methods())
    ties, dare = method_spec("ties"), method_spec("dare")
    assert ties.label == "TIES" and ties.defaults == {"density": 0.2} and ties.param("density").interval == "(0, 1]"
    assert dare.seeded and dare.defaults == {"drop_rate": 0.5} and dare.param("drop_rate").interval == "[0, 1)"
    assert ties.description.startswith("TIES (Yadav et al. 2023)")
    assert ties.resolve({"density": 0.5}) == {"density": 0.5}
    with pytest.raises(ValueError, match=r"ties density must be in \(0, 1\], got 0"):
        ties.resolve({"density": 0.0})
    with pytest.raises(KeyError, match="its parameters: density"):
        ties.resolve({"k": 3})
    with pytest.raises(ValueError, match="unknown merge method 'soup'; choose from"):
        method_spec("soup")


def test_linear_is_the_mean_of_the_models_moved_by_lambda():
    deltas = torch.tensor([[1.0, 2.0], [3.0, -2.0], [5.0, 0.0]])
    out = MERGE_METHODS["linear"](deltas, torch.tensor([0.5, 0.5, 0.5]))
    torch.testing.assert_close(out, 0.5 * deltas.mean(dim=0))
    # a vector at weight 0 (the FFT vector in the grid's recipes) is not one of the models
    out = MERGE_METHODS["linear"](deltas, torch.tensor([0.0, 1.0, 1.0]))
    torch.testing.assert_close(out, deltas[1:].mean(dim=0))
    torch.testing.assert_close(MERGE_METHODS["linear"](deltas, torch.zeros(3)), torch.zeros(2))


def test_registering_refuses_what_it_could_not_honour():
    def no_default(deltas, weights, *, gain):
        return weights @ deltas

    with pytest.raises(TypeError, match="'gain' must be a keyword argument of no_default with a default"):
        register_merge_method("nodefault", params=(Param("gain", 0, 2),))(no_default)

    def far(deltas, weights, *, gain=5.0):
        return weights @ deltas

    with pytest.raises(ValueError, match=r"the default gain=5.0 is outside \[0, 2\]"):
        register_merge_method("far", params=(Param("gain", 0, 2),))(far)
    with pytest.raises(ValueError, match="lower-case identifier"):
        register_merge_method("Half Sum")(far)
    with pytest.raises(TypeError, match="must take seed and tensor_index"):
        register_merge_method("drawn", seeded=True)(far)
    assert not {"nodefault", "far", "drawn"} & set(MERGE_METHODS)


def test_the_config_checks_method_parameters_by_name_and_reads_the_old_fields():
    with pytest.raises(ConfigError, match=r"grids.method_params.ties.density: must be in \(0, 1\], got 1.5"):
        load_config({"grids": {"methods": ["ties"], "method_params": {"ties": {"density": 1.5}}}})
    with pytest.raises(ConfigError, match=r"grids.method_params.dare.density: dare has no parameter 'density'; "
                                          r"its parameters: \['drop_rate'\]"):
        load_config({"grids": {"method_params": {"dare": {"density": 0.5}}}})
    with pytest.raises(ConfigError, match=r"grids.method_params.linear.gain: linear has no parameter 'gain'; "
                                          r"its parameters: none"):
        load_config({"grids": {"method_params": {"linear": {"gain": 1}}}})
    with pytest.raises(ConfigError, match=r"grids.methods: \['soup'\] unknown; choose from \['ties', 'dare', 'linear'"):
        load_config({"grids": {"methods": ["soup"]}})
    with pytest.raises(ConfigError, match="grids.methods: a method is listed twice"):
        load_config({"grids": {"methods": ["ties", "ties"]}})
    with pytest.raises(ConfigError, match="grids.method_params: expected a mapping"):
        load_config({"grids": {"method_params": [1, 2]}})
    # the stored config says every evaluated method's parameters, defaults included
    cfg = load_config({"grids": {"methods": ["ties", "dare", "linear"], "method_params": {"dare": {"drop_rate": 0.3}}}})
    assert cfg.grids.method_params == {"ties": {"density": 0.2}, "dare": {"drop_rate": 0.3}, "linear": {}}
    assert load_config(cfg.to_dict()) == cfg
    # a run stored before the registry (grids.ties_density) reads the same
    old = {"grids": {"methods": ["ties", "dare"], "ties_density": 0.4, "dare_drop_rate": 0.1}}
    assert load_config(old).grids.method_params == {"ties": {"density": 0.4}, "dare": {"drop_rate": 0.1}}
    assert method_params(old["grids"], "ties") == {"density": 0.4}
    assert method_params({}, "dare") == {"drop_rate": 0.5}
    assert load_config({}, {"grids.method_params.ties.density": 0.7}).grids.method_params["ties"] == {"density": 0.7}


@pytest.fixture
def halfsum():
    """A method added the one way the architecture offers: one decorated function."""
    @register_merge_method("halfsum", label="half sum", params=(Param("gain", 0.0, 2.0, help="the scale"),))
    def halfsum_fn(deltas, weights, *, gain: float = 0.5):
        """``gain · Σ_i λ_i τ_i``: task addition, scaled."""
        return gain * (weights @ deltas)
    yield "halfsum"
    MERGE_METHODS.pop("halfsum")


@pytest.fixture
def halfsum_run(halfsum, tmp_path, monkeypatch):
    from precompute.pipeline import run_study
    from precompute.profiles import load_profile
    cfg = load_profile("quick", {**PICO_OVERRIDES, "name": "halves", "output_root": str(tmp_path / "artifacts"),
                                 "grids.uniform": [0.0, 1.0], "grids.inject": [0.0], "grids.axis": [0.0, 1.0],
                                 "grids.pairs": [], "grids.probes": 0, "grids.methods": ["halfsum"],
                                 "grids.methods_grid": [4.0], "grids.method_params": {"halfsum": {"gain": 0.25}},
                                 "eval.bootstrap": 20})
    run_study(cfg, progress=False)
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("TASKFAIR_EXPORTS", str(tmp_path / "exports"))
    return cfg, tmp_path


def test_a_method_added_in_one_place_reaches_config_grid_frontier_and_export(halfsum_run):
    from precompute.plan import plan_points
    from taskfair.publishing.provenance import read_record
    from taskfair.steering import config_margins, parse_variant
    from taskfair.steering.views import frontier_points
    from taskfair.store.results import load_results

    cfg, tmp = halfsum_run
    # the config: named, its parameter checked against its range
    with pytest.raises(ConfigError, match=r"grids.method_params.halfsum.gain: must be in \[0, 2\], got 3"):
        load_config({"grids": {"methods": ["halfsum"], "method_params": {"halfsum": {"gain": 3}}}})
    assert cfg.grids.method_params["halfsum"] == {"gain": 0.25}
    # the grid: a job of its own, merged with the configured parameter
    points = plan_points(cfg, ("female", "muslims", "black"), 13)["method/halfsum"]
    assert [(p.family, p.lam, p.method, p.params) for p in points] == [("halfsum", 4.0, "halfsum", (("gain", 0.25),))]
    res = load_results(tmp / "artifacts", "halves")
    assert "halfsum" in set(res.metrics.family)
    # the stored point merged with the configured gain: θ0 + 0.25 · 4 Σ τ_g is uniform λ = 1
    stored, est = config_margins(res, "halfsum:4", 13)
    assert not est and np.allclose(stored, config_margins(res, "uniform:1", 13)[0], atol=1e-4)
    # the Frontier: its own family, label and configuration string, and the page offers to export it
    pts = frontier_points(res)
    row = pts[pts.family == "halfsum"].iloc[0]
    assert row.label == "half sum λ=4.00" and row.config == "halfsum:4" and not row.degenerate
    assert parse_variant("halfsum:4", res.groups).label == "half sum λ=4"
    at = AppTest.from_file(str(ROOT / "pages/4_frontier.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "half sum λ=4.00" in at.selectbox(key="fr_export_choice").options
    drawn = {t.get("name"): t for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert drawn["halfsum"]["hovertext"] == ["half sum λ=4.00"]   # its own colour and marker
    assert (drawn["halfsum"]["marker"]["color"], drawn["halfsum"]["marker"]["symbol"]) == \
        charts.family_styles()["halfsum"]
    # the Export page: listed among the forms, and exported with its provenance
    at = AppTest.from_file(str(ROOT / "pages/5_export.py"), default_timeout=120)
    at.query_params["config"] = "halfsum:4"
    at.run()
    assert any("halfsum:<λ>" in c.value for c in at.caption)
    at.text_input(key="export_name").set_value("halves-export")
    at.button(key="export_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    record = read_record(tmp / "exports" / "halves-export")
    assert record["merge"]["method"] == "halfsum" and record["merge"]["params"] == {"gain": 0.25}
