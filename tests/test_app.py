"""One AppTest per dashboard page against a small fixture store: it renders without exception
and its main widgets change what is shown."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def page(name: str, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / name), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return at


@pytest.fixture
def store(pico_store, monkeypatch, tmp_path):
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(pico_store))
    monkeypatch.setenv("TASKFAIR_EXPORTS", str(tmp_path / "exports"))
    return pico_store


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_no_runs_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(tmp_path / "empty"))
    at = _ok(page("app.py").run())
    assert any("make precompute" in i.value for i in at.info)
    assert at.button[0].label == "Run the quick precompute now"


def _frame(at, column: str):
    """The first table on the page with ``column``."""
    return next(d for d in at.dataframe if column in d.value.columns)


def test_overview(store):
    at = _ok(page("app.py").run())
    assert at.sidebar.selectbox[0].value == "pico"
    shown = {m.label: m.value for m in at.metric}
    assert shown["Worst subgroup under FFT"] in {"female", "muslims", "black"}
    methods = _frame(at, "method").value
    assert set(methods.method) == {"FFT", "LoRA", "task addition"}
    shown_cols = list(_frame(at, "method").proto.column_order)   # one seed: the standard error over seeds
    assert "sem" in methods.columns and "sem" not in shown_cols and "method" in shown_cols  # is empty, not shown
    shown = " ".join(m.value for m in at.markdown)  # the findings, each with its verdict and numbers
    assert "(a) Task addition keeps accuracy" in shown and "(d) No method is the fairest" in shown
    assert "(e) How far a subgroup's DPD and EOD can move" in shown
    assert shown.count("[see ") == 5
    # each verdict a badge in Streamlit's icon font (emoji need a system font some browsers lack)
    assert sum(f"{v}]" in shown for v in ("holds", "partly", "does not hold", "inconclusive", "not measured")) >= 1
    assert shown.count("-badge[:material/") == 5
    # the comparisons behind the verdicts: each with its interval and Holm-corrected p-value
    comp = _frame(at, "comparison").value
    assert {"estimate", "low", "high", "p"} <= set(comp.columns) and set(comp.finding) <= {"a", "b", "c", "d"}
    assert any("One seed: seed-to-seed variation is not measured" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 2      # the methods, and the effect of a minimum group size
    test_table = methods.copy()
    at.sidebar.radio[0].set_value("val").run()
    _ok(at)
    assert not _frame(at, "method").value.equals(test_table)  # the split changes the numbers


def _shown(element) -> str:
    """An element's text as a reader sees it: echoed input is markdown-escaped (backslashes) and
    bare addresses broken by a word joiner, neither of which shows on screen."""
    return element.value.replace("\\", "").replace("\u2060", "")


def test_garbage_url_parameters_are_explained(store):
    at = _ok(page("app.py", run="../../etc").run())
    assert any("not in" in _shown(w) for w in at.warning)
    assert at.sidebar.selectbox[0].value == "pico"
    at = _ok(page("pages/2_remix.py", lam="1,abc").run())
    assert any("not a comma-separated list" in _shown(w) for w in at.warning)
    # read as a person means it: float("0_1") is 1 in Python, float("nan") a number
    for raw in ("0_1,0.2,0.3", "nan,0.2,0.3"):
        at = _ok(page("pages/2_remix.py", lam=raw).run())
        assert any("not a comma-separated list" in _shown(w) for w in at.warning), raw
    at = _ok(page("pages/2_remix.py", lam="0.2,0.3").run())
    assert any("3 subgroups" in _shown(w) for w in at.warning)
    at = _ok(page("pages/2_remix.py", lam="0.2,0.3,9").run())
    assert any("between -1 and 1.5" in _shown(w) for w in at.warning)
    at = _ok(page("pages/3_heatmaps.py", inject="NOPE").run())
    assert any("Ignoring ?inject='NOPE'" in _shown(w) for w in at.warning)
    assert not any("Extrapolated" in _shown(w) for w in _ok(page("pages/2_remix.py", lam="1,1,1").run()).warning)


def test_sweep(store):
    at = _ok(page("pages/1_sweep.py").run())
    assert len(at.get("plotly_chart")) == 2     # the sweep, and the scaling bound's envelope
    bound = at.get("plotly_chart")[1].proto.spec
    assert "bound (envelope)" in bound and "measured DPD" in bound
    assert any("lie inside the bound" in c.value for c in at.caption)
    at.selectbox(key="bound_path").set_value(("inject", "female")).run()
    _ok(at)
    assert at.get("plotly_chart")[1].proto.spec != bound       # another path, another curve
    at.radio(key="bound_metric").set_value("eod").run()
    assert "measured EOD" in _ok(at).get("plotly_chart")[1].proto.spec
    at.toggle[0].set_value(True).run()
    _ok(at)
    assert len(at.get("plotly_chart")) == 5  # the sweep, three per-subgroup panels, the bound


def _summary(at):
    return {m.label: m.value for m in at.metric}


def test_remix_sliders_change_the_metrics_and_url(store):
    at = _ok(page("pages/2_remix.py", lam="0,0,0").run())
    assert [s.value for s in at.slider[1:]] == [0.0, 0.0, 0.0]
    at0 = _summary(at)
    table0 = at.dataframe[1].value
    at.slider[1].set_value(1.0).run()   # female
    _ok(at)
    at1 = _summary(at)
    assert at.query_params["lam"] == "1,0,0"
    assert not at.dataframe[1].value.equals(table0)
    assert at1 != at0
    # the linked slider moves every subgroup
    at.slider[0].set_value(0.35 if at.slider[0].value != 0.35 else 0.65).run()
    target = at.slider[0].value
    _ok(at)
    assert [s.value for s in at.slider[1:]] == [target] * 3
    assert at.query_params["lam"] == ",".join([f"{target:g}"] * 3)
    assert any("estimate" in i.value for i in at.info)
    assert "±0." in at.metric[0].value   # an estimate shows its expected error beside it


def test_a_stale_link_in_a_rerun_does_not_undo_a_slider_move(store):
    """The browser sends its address with every rerun, and it learns the page's new ?lam= only
    when that rerun's reply arrives: a quick second move is sent with the λ of the move before.
    That echo of a λ the page itself wrote must not put the sliders back; a link from outside
    (a new λ) still sets them."""
    at = _ok(page("pages/2_remix.py", lam="0.2,0.2,0.2").run())
    at.slider[1].set_value(0.5).run()
    _ok(at)
    assert at.query_params["lam"] == "0.5,0.2,0.2"
    at.query_params["lam"] = "0.2,0.2,0.2"          # the browser has not seen the reply yet
    at.slider[1].set_value(0.8).run()
    _ok(at)
    assert at.slider[1].value == 0.8 and at.query_params["lam"] == "0.8,0.2,0.2"
    at.query_params["lam"] = "0.3,0.4,0.5"          # a λ this page never wrote: a link, applied
    _ok(at.run())
    assert [s.value for s in at.slider[1:]] == [0.3, 0.4, 0.5]


def test_remix_estimate_at_a_stored_point_is_exact(store):
    """At a point on a subgroup's own axis the estimate is the stored prediction, so the exact
    evaluation agrees with it; the page shows the comparison."""
    at = _ok(page("pages/2_remix.py", lam="0,1,0").run())
    assert at.metric[0].value.endswith("(stored)")
    from ui.harness import evaluate_exactly
    _ok(evaluate_exactly(at))
    assert any("Largest gap between estimate and exact" in s.value for s in at.success)
    cmp = next(d.value for d in at.dataframe if "abs_error" in d.value.columns)
    assert cmp.abs_error.max() < 1e-9


def test_heatmaps_inject_target_changes_the_grid(store):
    at = _ok(page("pages/3_heatmaps.py").run())
    assert len(at.get("plotly_chart")) == 6
    first = at.dataframe[0].value
    options = at.selectbox[0].options
    other = next(o for o in options if o != at.selectbox[0].value)
    at.selectbox[0].set_value(other).run()
    _ok(at)
    assert not at.dataframe[0].value.equals(first)
    assert at.query_params["inject"] == other
    at.radio(key="hm_mode").set_value("Uniform addition").run()
    _ok(at)
    assert "uniform" in set(at.dataframe[0].value.family)


def test_heatmap_cells_carry_intervals_and_mark_noise(store):
    import json

    at = _ok(page("pages/3_heatmaps.py").run())
    assert at.toggle(key="hm_ci").value
    spec = json.loads(at.get("plotly_chart")[1].proto.spec)   # the DPD heatmap
    trace = spec["data"][0]
    grid = at.dataframe[0].value
    dpd = grid[grid.metric == "dpd"]
    lo = dpd.set_index(["row", "group"])["low"]
    cell = trace["text"][1][0]                       # first λ row, first subgroup
    row, group = trace["y"][1], trace["x"][0]
    assert f"{lo[(row, group)]:.2f}–" in cell
    near = sum(c.startswith("≈") for r in trace["text"][1:] for c in r)
    bold = sum("<b>" in c for r in trace["text"][1:] for c in r)
    assert near + bold == (len(trace["y"]) - 1) * len(trace["x"])
    fft = dpd[dpd.row == "FFT"].set_index("group")
    overlaps = sum(bool(r.low <= fft.high[r.group] and r.high >= fft.low[r.group])
                   for r in dpd[dpd.row != "FFT"].itertuples())
    assert near == overlaps
    at.toggle(key="hm_ci").set_value(False).run()
    _ok(at)
    assert "text" not in json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]


def test_frontier_and_load_into_remix(store):
    at = _ok(page("pages/4_frontier.py").run())
    pts = at.dataframe[0].value
    assert pts.on_front.any() and {"fft", "lora", "uniform"} <= set(pts.family)
    # the front drawn from each stored point's share of resamples on it
    stored = pts[pts.family != "thresholds"]
    assert stored.front_share.between(0, 1).all()
    assert (stored.on_front == (stored.front_share >= 0.5) & ~stored.degenerate).all()
    assert pts[pts.family == "thresholds"].front_share.isna().all()     # no stored predictions to resample
    names = {t.get("name") for t in __import__("json").loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert "on the front in ≥ 50% of resamples" in names
    at.radio(key="fr_unf").set_value("worst_eod").run()
    _ok(at)
    assert "uniform λ=0.50" in at.selectbox(key="fr_choice").options
    at.selectbox(key="fr_choice").set_value("uniform λ=0.50")
    at.button(key="fr_load").click().run()
    _ok(at)
    assert at.session_state["lam_female"] == 0.5 and at.session_state["lam_black"] == 0.5


def test_export_reloads_with_transformers_and_matches_the_in_app_merge(store, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from taskfair import predict_margins
    from taskfair.steering.exact import load_theta0, merged_model
    from taskfair.store import ArtifactStore

    at = _ok(page("pages/5_export.py", lam="0.2,0.7,0.4").run())
    at.text_input(key="export_name").set_value("my-remix")
    at.button(key="export_go").click().run()
    _ok(at)
    assert any("verified" in s.value for s in at.success)
    out = tmp_path / "exports" / "my-remix"
    assert {"config.json", "model.safetensors", "README.md", "metrics.json"} <= {p.name for p in out.iterdir()}
    card = (out / "README.md").read_text()
    assert "female | 0.200" in card and "pico" in card

    model = AutoModelForSequenceClassification.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    run = ArtifactStore(store).open("pico")
    in_app = merged_model(run, 13, [0.2, 0.7, 0.4], load_theta0(run, 13))
    texts = ["women should stay quiet", "muslims are my neighbours", "a neutral sentence"]
    np.testing.assert_allclose(predict_margins(model, tok, texts), predict_margins(in_app, tok, texts),
                               atol=1e-5)
    assert at.get("download_button")

    # the command line exports through the same function: the same weights, and recreate accepts both
    import json
    import subprocess
    import sys

    from taskfair.publishing.provenance import recreate
    from taskfair.store.files import sha256_file
    cli = tmp_path / "cli-remix"
    done = subprocess.run([sys.executable, "-m", "taskfair", "export", "--run", "pico", "--artifacts", str(store),
                           "--config", "remix:0.2,0.7,0.4", "-o", str(cli), "--bootstrap", "50"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    page_rec, cli_rec = (json.loads((d / "provenance.json").read_text()) for d in (out, cli))
    assert page_rec["merged_weights_sha256"] == cli_rec["merged_weights_sha256"]
    assert page_rec["configuration"] == cli_rec["configuration"] == "remix:0.2,0.7,0.4"
    assert sha256_file(out / "model.safetensors") == sha256_file(cli / "model.safetensors")
    for folder in (out, cli):
        assert recreate(folder)[3]

    # any configuration: picked on the Frontier ("Export this point"), or typed on the page
    fr = _ok(page("pages/4_frontier.py").run())
    labels = fr.selectbox(key="fr_export_choice").options
    inject = next(l for l in labels if "FFT +" in l)
    fr.selectbox(key="fr_export_choice").set_value(inject)
    fr.button(key="fr_export").click().run()
    chosen = fr.session_state["export_config"]
    assert chosen.startswith("inject:"), chosen
    ex = _ok(page("pages/5_export.py", config=chosen).run())
    assert ex.text_input(key="export_spec").value == chosen
    ex.text_input(key="export_name").set_value("an-injection")
    ex.button(key="export_go").click().run()
    _ok(ex)
    rec = json.loads((tmp_path / "exports" / "an-injection" / "provenance.json").read_text())
    assert rec["configuration"] == chosen and recreate(tmp_path / "exports" / "an-injection")[3]
    bad = _ok(page("pages/5_export.py", config="inject:nobody:0.5").run())
    assert any("Not a configuration of this run" in e.value for e in bad.error)

    # never overwrite, never leave the export folder
    at.button(key="export_go").click().run()
    assert any("already exists" in e.value for e in at.error)
    at.text_input(key="export_name").set_value("../escape").run()
    at.button(key="export_go").click().run()
    assert any("not allowed" in e.value for e in at.error)
    assert not (tmp_path / "escape").exists()


def test_damaged_run_is_reported_not_crashed(pico_store, tmp_path, monkeypatch):
    root = tmp_path / "copy"
    shutil.copytree(pico_store, root)
    (root / "pico" / "summary.json").write_text("{}")
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(root))
    at = _ok(page("app.py").run())
    assert any("sha256 differs" in e.value for e in at.error)


def test_presentation_mode_hides_tables(store):
    at = _ok(page("app.py", present="1").run())
    assert len(at.dataframe) == 0 and len(at.get("plotly_chart")) == 2


def test_diff_page_lists_the_changed_comments_and_filters_them(store):
    at = _ok(page("pages/6_diff.py").run())
    assert at.selectbox(key="diff_a").value == "fft"
    assert "predictions change" in at.info[0].value
    counts, examples = at.dataframe[0].value, at.dataframe[1].value
    assert {"newly flagged", "no longer flagged", "right→wrong", "wrong→right"} <= set(counts.columns)
    total = int(counts.loc[counts.group == "(all)", "changed"].iloc[0])
    assert len(examples) == total and "text" in examples.columns
    at.radio(key="diff_dir").set_value("newly flagged").run()
    _ok(at)
    shown = at.dataframe[1].value
    assert (shown["flag change"] == "newly flagged").all()
    assert len(shown) == int(counts.loc[counts.group == "(all)", "newly flagged"].iloc[0])
    at.text_input(key="diff_custom").set_value("remix:1,abc").run()
    assert any("Ignoring the typed configuration" in w.value for w in at.warning)
    at.text_input(key="diff_custom").set_value("remix:1,0,0").run()
    _ok(at)
    assert "remix 1,0,0" in at.info[0].value


def test_report_page_builds_a_downloadable_report(store):
    at = _ok(page("pages/7_report.py").run())
    assert "fft" in at.multiselect(key="report_configs").value
    at.select_slider(key="report_boot").set_value(200).run()
    at.button(key="report_go").click().run()
    _ok(at)
    assert any("Report ready" in s.value for s in at.success)


def test_remix_shows_validation_and_test_side_by_side(store):
    at = _ok(page("pages/2_remix.py").run())
    side = at.dataframe[0].value
    assert list(side.columns) == ["val (estimate)", "test (estimate)"]
    assert not side.iloc[:, 0].equals(side.iloc[:, 1])


def test_remix_estimate_carries_bootstrap_intervals(store):
    at = _ok(page("pages/2_remix.py", lam="0.2,0.7,0.4").run())
    assert "low" not in at.dataframe[1].value.columns   # off by default: the sliders stay fast
    at.toggle(key="remix_ci").set_value(True).run()
    _ok(at)
    est = at.dataframe[1].value
    assert {"low", "high"} <= set(est.columns)
    acc = est[est.metric == "accuracy"]
    assert (acc.low <= acc["mean"] + 1e-9).all() and (acc["mean"] <= acc.high + 1e-9).all()
    assert "95% CI" in at.get("plotly_chart")[0].proto.spec


def test_frontier_families_differ_in_colour_and_marker(store):
    """Every family on the Frontier has its own (colour, marker) pair from a colour-blind-safe
    palette, so none share a look (uniform, axis and TIES were all blues)."""
    from taskfair import load_results
    from taskfair.steering.views import frontier_points
    from ui import charts
    from taskfair.steering.thresholds import threshold_points
    res = load_results(store, "pico")
    pts = frontier_points(res, extra=threshold_points(res))
    assert "thresholds" in set(pts.family)
    fig = charts.frontier(pts, "worst_dpd")
    looks = {t.name: (t.marker.color, t.marker.symbol) for t in fig.data if t.name in set(pts.family)}
    assert set(looks) == set(pts.family[~pts.degenerate])
    assert len(set(looks.values())) == len(looks), looks
    okabe_ito = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
    assert {c for c, _ in looks.values()} <= okabe_ito


def test_export_page_keeps_what_the_user_types_over_the_link(store):
    at = _ok(page("pages/5_export.py", config="fft").run())
    assert at.text_input(key="export_spec").value == "fft"
    at.text_input(key="export_spec").set_value("lora").run()
    _ok(at)
    assert at.text_input(key="export_spec").value == "lora" and "lora" in str(at.query_params["config"])


@pytest.fixture(scope="module")
def computing_store(tmp_path_factory):
    """A pico run stopped after FFT and LoRA were evaluated (as while `make demo` computes)."""
    import precompute.pipeline as pipeline
    from conftest import PICO_OVERRIDES
    from precompute.profiles import load_profile

    class Stop(Exception):
        pass

    root = tmp_path_factory.mktemp("computing")
    cfg = load_profile("quick", {**PICO_OVERRIDES, "name": "pico", "output_root": str(root)})
    real = pipeline.evaluate_grid
    pipeline.evaluate_grid = lambda ctx: (_ for _ in ()).throw(Stop())
    try:
        with pytest.raises(Stop):
            pipeline.run_study(cfg, progress=False)
    finally:
        pipeline.evaluate_grid = real
    return root


def test_pages_of_a_run_still_computing(computing_store, monkeypatch):
    """The Overview shows FFT and LoRA with the rest pending; a page that needs more says what it
    waits for; the progress bar shows the jobs done and that no precompute is running."""
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(computing_store))
    at = _ok(page("app.py").run())
    assert any("still computing" in i.value for i in at.info)
    shown = {m.label: m.value for m in at.metric}
    assert shown["λ chosen on validation"] == "pending"
    assert set(_frame(at, "method").value.method) == {"FFT", "LoRA"}
    text = " ".join(m.value for m in at.markdown)
    assert "(a) Task addition keeps accuracy" in text and ":gray-badge[:material/hourglass_top: pending]" in text
    bar = at.get("progress")[0].proto.text
    assert "jobs" in bar and "no precompute is running" in bar
    for name in ("pages/1_sweep.py", "pages/2_remix.py", "pages/4_frontier.py"):
        at = _ok(page(name).run())
        text = " ".join(m.value for m in at.markdown)
        assert "This page appears when the precompute has finished" in text, name
        assert not at.get("plotly_chart"), name
    text = " ".join(m.value for m in _ok(page("pages/1_sweep.py").run()).markdown)
    assert "uniform" in text and "whole run" not in text
    text = " ".join(m.value for m in _ok(page("pages/2_remix.py").run()).markdown)
    assert "the whole run" in text


def test_a_starting_precompute_is_followed(tmp_path, monkeypatch):
    """Before the run has a manifest, a live lock means the precompute is starting: no button to
    start a second one."""
    import json
    import os
    import socket
    (tmp_path / "quick").mkdir()
    (tmp_path / "quick" / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(tmp_path))
    at = _ok(page("app.py").run())
    assert any("is starting" in i.value for i in at.info) and not at.button


def test_guided_tour_steps_through_the_findings(store):
    at = _ok(page("pages/10_tour.py").run())
    assert "Is a merged model fairer?" in at.title[0].value
    assert at.button(key="tour_back").disabled
    at.button(key="tour_next").click().run()
    _ok(at)
    assert at.query_params["step"] == ["1"] or at.query_params["step"] == "1"
    assert "(a) Task addition keeps accuracy" in at.title[0].value
    said = " ".join(m.value for m in at.markdown)
    assert any(f"-badge[:material/{icon}: {w}]" in said for icon, w in (
        ("check_circle", "holds"), ("contrast", "partly"), ("cancel", "does not hold"), ("help", "inconclusive"),
        ("remove", "not measured")))
    assert len(at.get("plotly_chart")) == 1
    for step, text in ((3, "(c) Injecting"), (5, "(e) How far"), (6, "Every configuration at once")):
        at = _ok(page("pages/10_tour.py", step=str(step)).run())
        assert text in at.title[0].value and len(at.get("plotly_chart")) == 1
    at = _ok(page("pages/10_tour.py", step="banana").run())
    assert "Is a merged model fairer?" in at.title[0].value
    at = _ok(page("pages/10_tour.py", step="99").run())
    assert at.button(key="tour_next").disabled


def test_thresholds_on_the_overview_the_frontier_and_the_remix(store):
    at = _ok(page("pages/0_overview.py").run())
    assert any("per-group thresholds" in s.value for s in at.subheader)
    tables = [d.value for d in at.dataframe]
    head = next(t for t in tables if "method" in t.columns and "Worst DPD" in t.columns)
    assert {"FFT", "LoRA", "task addition", "FFT + thresholds (DP)", "FFT + thresholds (EO)"} <= set(head.method)
    at = _ok(page("pages/4_frontier.py").run())
    assert "thresholds" in set(at.dataframe[0].value.family)
    said = [m.value for m in list(at.info) + list(at.warning)]
    assert any("subgroup at prediction time" in m for m in said), said
    assert not any("thresholds" in o for o in at.selectbox(key="fr_export_choice").options)
    at.toggle(key="fr_thr").set_value(False).run()
    _ok(at)
    assert "thresholds" not in set(at.dataframe[0].value.family)
    at = _ok(page("pages/2_remix.py", lam="0.2,0.7,0.4").run())
    at.radio(key="remix_thr").set_value("dp").run()
    _ok(at)
    labels = [m.label for m in at.metric]
    assert "Worst-case DPD + thresholds" in labels
    assert any("subgroup at prediction time" in c.value for c in at.caption)


def test_counterfactual_page_runs_a_configuration(store):
    at = _ok(page("pages/11_counterfactual.py").run())
    assert at.selectbox(key="cf_config").value == "fft"
    at.button(key="cf_go").click().run()
    _ok(at)
    assert "flip when only the identity term changes" in at.success[0].value
    table = at.dataframe[0].value
    assert set(table.subgroup) == {"female", "muslims", "black"} and (table.swapped > 0).all()
    at.text_input(key="cf_custom").set_value("remix:1,abc").run()
    assert at.error and "not a number" in at.error[0].value


def test_remix_sliders_reach_negative_lambda(store):
    at = _ok(page("pages/2_remix.py", lam="-0.5,0,0").run())
    assert at.slider(key="lam_female").min == -1.0 and at.slider(key="lam_female").max == 1.5
    assert at.session_state["lam_female"] == -0.5
    assert not any("Extrapolated" in w.value for w in at.warning)  # the axis at -0.5 is stored
    at = _ok(page("pages/2_remix.py", lam="-1,0,0").run())
    assert any("Extrapolated" in w.value for w in at.warning)


def test_remix_layerwise_panel_evaluates_and_searches(store):
    at = _ok(page("pages/2_remix.py", lam="0.5,0.5,0.5").run())
    assert not any("layerwise:" in c.value for c in at.code)  # off until asked: slider moves stay light
    at.toggle(key="lw_show").set_value(True).run()
    assert any("layerwise:0.5/0.5/0.5/0.5,0.5/0.5/0.5/0.5" in c.value for c in at.code)
    at.button(key="lw_exact").click().run()
    _ok(at)
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["test", "val"])
    assert table.notna().all().all()
    at.number_input(key="lw_budget").set_value(2)
    at.button(key="lw_search").click().run()
    _ok(at)
    assert any("Best on validation after 2 exact evaluations" in s.value for s in at.success)


def test_remix_layerwise_grid_survives_its_switch(store):
    """The grid's values are kept when the panel is switched off and on (Streamlit drops a hidden
    widget's state): the panel starts from the kept grid."""
    at = _ok(page("pages/2_remix.py", lam="0.5,0.5,0.5").run())
    at.toggle(key="lw_show").set_value(True).run()
    key = "lw_grid_0.5,0.5,0.5"
    kept = at.session_state["lw_kept"][key]
    assert kept.shape == (3, 4) and (kept.to_numpy() == 0.5).all()
    edited = kept.copy()
    edited.iloc[0, 0] = 0.2                      # as if a cell had been edited, then the panel hidden
    at.toggle(key="lw_show").set_value(False).run()
    at.session_state["lw_kept"] = {key: edited}
    at.toggle(key="lw_show").set_value(True).run()
    _ok(at)
    assert any("layerwise:0.2/0.5/0.5/0.5,0.5/0.5/0.5/0.5" in c.value for c in at.code)
