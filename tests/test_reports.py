"""Provenance-stamped exports and their re-creation, the one-file HTML report (checked in a real
headless browser), the example-level diff, and choose-on-validation / report-on-test."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from taskfair.steering.configurations import VariantSpecError, parse_variant, stored_configs
from taskfair.steering.margins import config_margins
from taskfair.steering.diff import DIRECTIONS, example_diff
from taskfair.steering.exact import load_theta0, merged_model, model_margins
from taskfair.publishing.export import export_model
from taskfair.publishing.provenance import ProvenanceError, build_record, read_record, recreate
from taskfair.publishing.htmlreport import html_report
from taskfair.store.results import load_results
from taskfair.store import ArtifactStore

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ("female", "muslims", "black")


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def _cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "taskfair", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


# --------------------------------------------------------------------------- configurations

@pytest.mark.parametrize("spec, pattern", [
    ("fftt", "is not a configuration"), ("uniform:abc", "not a number"), ("uniform:-11", "from -10 to 10"), ("uniform:1e30", "from -10 to 10"),
    ("inject:martians:0.5", "not in this run"), ("remix:0.1,0.2", "needs 3 λ values"),
    ("fft:1", "takes no arguments"), ("axis:female:nan", "finite"),
])
def test_bad_configuration_strings_are_explained(spec, pattern):
    with pytest.raises(VariantSpecError, match=pattern):
        parse_variant(spec, GROUPS)


def test_configurations_read_stored_points_exactly(res):
    sr = res.seeds[13]
    m, est = config_margins(res, "uniform:0.5", 13)
    assert not est and np.array_equal(m, sr.margins("uniform", "", "test")[1][1])
    with pytest.raises(VariantSpecError, match="stored λ: 0, 0.5, 1"):
        config_margins(res, "uniform:0.3", 13)
    m, est = config_margins(res, "remix:0.5,0.5,0", 13)      # a stored pair point
    assert not est
    _, est = config_margins(res, "remix:0.3,0.1,0.7", 13)   # not stored: the estimate
    assert est
    assert {"fft", "uniform:0.5", "inject:female:1", "axis:black:0.5"} <= set(stored_configs(res))


# --------------------------------------------------------------------------- example diff

def test_example_diff_counts_add_up_and_carry_the_texts(res):
    d = example_diff(res, "fft", "uniform:0.5")
    sr = res.seeds[13]
    a, b = sr.single("fft") > 0, sr.margins("uniform", "", "test")[1][1] > 0
    assert len(d.examples) == int((a != b).sum()) > 0
    allrow = d.counts[d.counts.group == "(all)"].iloc[0]
    assert allrow["newly flagged"] + allrow["no longer flagged"] == allrow["changed"] == len(d.examples)
    assert allrow["right→wrong"] + allrow["wrong→right"] == allrow["changed"]  # binary: every flip changes correctness
    assert set(d.examples["flag change"]) <= set(DIRECTIONS[:2])
    # texts are the real test comments of those rows
    texts = res.data["text"].to_numpy()
    assert (d.examples.text.to_numpy() == texts[d.examples.example.to_numpy()]).all()
    assert set(d.examples.example) <= set(sr.index["test"])
    for g in GROUPS:
        row = d.counts[d.counts.group == g].iloc[0]
        assert row["changed"] == sum(g in s.split(", ") for s in d.examples.subgroups)
    assert "predictions change" in d.summary()


def test_diff_command(pico_store, tmp_path):
    out = _cli("diff", "--run", "pico", "--artifacts", pico_store, "fft", "remix:0.2,0.6,0.4",
               "--csv", tmp_path / "c.csv")
    assert out.returncode == 0, out.stderr
    assert "estimated, not run" in out.stdout and "newly flagged" in out.stdout
    assert (tmp_path / "c.csv").read_text().startswith("example,text,label,subgroups")
    bad = _cli("diff", "--run", "pico", "--artifacts", pico_store, "fft", "remix:1")
    assert bad.returncode == 2 and "needs 3 λ values" in bad.stderr


# --------------------------------------------------------------------------- provenance

@pytest.fixture(scope="module")
def exported(pico_store, tmp_path_factory):
    run = ArtifactStore(pico_store).open("pico")
    base = load_theta0(run, 13)
    lams = [0.3, 0.8, 0.55]
    model = merged_model(run, 13, lams, base)
    margins = model_margins(run, 13, merged_model(run, 13, lams, base), base[1], splits=("val", "test"))
    record = build_record(run, 13, dict(zip(GROUPS, lams)), model, margins=margins, n_boot=200)
    target = tmp_path_factory.mktemp("exp") / "m"
    export_model(model, base[1], target, provenance={"coefficients": dict(zip(GROUPS, lams))}, record=record)
    return target


def test_export_records_everything_needed(exported, pico_store):
    rec = read_record(exported)
    run = ArtifactStore(pico_store).open("pico")
    assert rec["base_model"]["weights_sha256"] == run.load_json("seed13/base.json")["sha256"]
    assert [v["subgroup"] for v in rec["task_vectors"]] == list(GROUPS)
    assert [v["coefficient"] for v in rec["task_vectors"]] == [0.3, 0.8, 0.55]
    assert all(v["sha256"] == run.manifest["files"][v["file"]]["sha256"] for v in rec["task_vectors"])
    assert rec["merge"] == {"method": "task_arithmetic", "params": {}, "arithmetic": "float32"}
    assert rec["data"]["dataset"] == "table" and rec["data"]["subgroups"] == list(GROUPS)
    assert rec["seeds"] == {"run": [13], "this_model": 13}
    assert {"torch", "transformers"} <= set(rec["versions"])
    for split in ("val", "test"):
        ev = rec["evaluation"][split]
        assert len(ev["data_sha256"]) == 64 and ev["n_examples"] == len(run.load_json("seed13/splits.json")[split])
        acc = [m for m in ev["metrics"] if m["group"] == "(all)" and m["metric"] == "accuracy"][0]
        assert acc["ci_low"] <= acc["value"] <= acc["ci_high"]
    card = (exported / "README.md").read_text()
    assert rec["merged_weights_sha256"] in card and "python -m taskfair recreate" in card


def test_recreate_reproduces_the_hash_and_catches_changes(exported, tmp_path):
    model, tok, sha, ok = recreate(exported)
    assert ok and sha == read_record(exported)["merged_weights_sha256"]
    out = _cli("recreate", exported, "--output", tmp_path / "rebuilt")
    assert out.returncode == 0, out.stderr
    assert "identical" in out.stdout and (tmp_path / "rebuilt" / "model.safetensors").is_file()
    # a different coefficient gives a different model: reported, exit status 1
    rec = json.loads((exported / "provenance.json").read_text())
    rec["task_vectors"][1]["coefficient"] = 0.81
    (tmp_path / "edited.json").write_text(json.dumps(rec))  # still carrying the record's own hash
    out = _cli("recreate", tmp_path / "edited.json")
    assert out.returncode == 2 and "was modified after it was written" in out.stderr
    del rec["record_sha256"]  # a record written by hand (or before records hashed themselves)
    (tmp_path / "changed.json").write_text(json.dumps(rec))
    out = _cli("recreate", tmp_path / "changed.json")
    assert out.returncode == 1 and "DIFFERENT" in out.stdout
    # a vector whose hash does not match the record is refused before merging
    rec["task_vectors"][1]["sha256"] = "0" * 64
    (tmp_path / "tampered.json").write_text(json.dumps(rec))
    out = _cli("recreate", tmp_path / "tampered.json")
    assert out.returncode == 2 and "the record says" in out.stderr
    with pytest.raises(ProvenanceError, match="not a taskfair provenance record"):
        (tmp_path / "x.json").write_text("{}")
        read_record(tmp_path / "x.json")


def test_recreate_refuses_a_record_that_does_not_describe_the_folders_weights(exported, pico_store, tmp_path):
    """A forged record: another merge of the same run, its file hashes rewritten to match this
    folder and its own hash recomputed (anyone can do both). It is consistent with itself and
    would rebuild its own weights exactly; the folder's weights are not those, and recreate says
    so, naming the file, before rebuilding anything."""
    from taskfair.publishing.provenance import check_folder_weights, folder_weights_sha256, write_record
    assert folder_weights_sha256(exported) == read_record(exported)["merged_weights_sha256"]
    run = ArtifactStore(pico_store).open("pico")
    base = load_theta0(run, 13)
    other = build_record(run, 13, dict(zip(GROUPS, [0.1, 0.1, 0.1])),
                         merged_model(run, 13, [0.1, 0.1, 0.1], base), n_boot=0)
    forged = tmp_path / "forged"
    shutil.copytree(exported, forged)
    write_record({**other, "files": read_record(exported)["files"]}, forged)
    assert read_record(forged)["merged_weights_sha256"] != read_record(exported)["merged_weights_sha256"]
    model, tok, sha, ok = recreate(forged)
    assert ok   # the record alone reproduces *its* weights: the hole this closes
    assert "model.safetensors: the weights in" in check_folder_weights(forged, read_record(forged))
    out = _cli("recreate", forged)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "DIFFERENT: model.safetensors" in out.stdout and "does not hold the model" in out.stdout
    assert "identical" not in out.stdout


def test_recreate_checks_the_files_of_the_export_itself(exported, tmp_path):
    """The rebuilt weights match the record, but the export's own weight file was damaged:
    recreate must say which file and exit 1."""
    for damage in ("overwrite", "truncate"):
        copy = tmp_path / damage
        shutil.copytree(exported, copy)
        weights = copy / "model.safetensors"
        data = bytearray(weights.read_bytes())
        if damage == "overwrite":
            data[-4:] = bytes(4 - i for i in range(4))
        else:
            data = data[: len(data) // 2]
        weights.write_bytes(bytes(data))
        out = _cli("recreate", copy)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "model.safetensors: sha256 differs" in out.stdout and "identical" not in out.stdout
    (tmp_path / "missing").mkdir()
    shutil.copy(exported / "provenance.json", tmp_path / "missing" / "provenance.json")
    out = _cli("recreate", tmp_path / "missing" / "provenance.json")
    assert out.returncode == 1 and "config.json: missing" in out.stdout


# --------------------------------------------------------------------------- HTML report

def test_report_shows_validation_and_test_side_by_side(res):
    text = html_report(res, ["fft", "uniform:0.5", "remix:0.2,0.6,0.4"], n_boot=100)
    assert "Accuracy (val)" in text and "Accuracy (test)" in text
    assert "estimated from stored predictions" in text           # the remix caveat
    assert "One seed only" in text and "θ0 weights sha256" in text
    assert "Effect of a minimum subgroup size" in text and "FFT worst_dpd" in text
    assert not re.search(r"<script[^>]+src=['\"]https?://", text)   # nothing fetched from the web
    assert len(text) > 1_000_000                                     # plotly.js is inlined


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="needs chromium (make test installs it)")
def test_report_command_renders_offline_in_a_headless_browser(pico_store, tmp_path):
    out = _cli("report", "--run", "pico", "--artifacts", pico_store, "--config", "fft",
               "--config", "remix:0.2,0.6,0.4", "--bootstrap", "100", "-o", tmp_path / "r.html")
    assert out.returncode == 0, out.stderr
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          "--virtual-time-budget=20000", "--dump-dom", (tmp_path / "r.html").as_uri()],
                         capture_output=True, text=True, timeout=180).stdout
    assert "Headline (mean over seeds)" in dom and "Caveats" in dom
    assert dom.count("class=\"main-svg\"") >= 1 or dom.count("main-svg") >= 1  # plotly drew the chart
    assert "remix 0.2,0.6,0.4" in dom


def test_frontier_compares_ties_and_dare_with_plain_addition(res):
    from taskfair.steering.views import frontier_points
    pts = frontier_points(res, split="test")
    assert {"uniform", "ties", "dare"} <= set(pts.family)
    assert "TIES λ=0.40" in set(pts.label) and "DARE λ=1.00" in set(pts.label)
    m, est = config_margins(res, "ties:0.7", 13)
    assert not est and m.shape == (len(res.seeds[13].labels["test"]),)
    # TIES/DARE points are not mistaken for plain remixes by the estimate
    lams, _ = res.seeds[13].subgroup_space("test")
    assert not any(np.allclose(l, [0.4] * len(res.groups)) for l in lams)


def test_frontier_points_carry_bootstrap_intervals(res, pico_store, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from taskfair.steering.views import frontier_points
    pts = frontier_points(res, split="test", unfairness="worst_eod")
    assert {"accuracy_low", "accuracy_high", "worst_eod_low", "worst_eod_high"} <= set(pts.columns)
    ok = pts.dropna(subset=["accuracy_low"])
    assert len(ok) == len(pts) and (ok.accuracy_low <= ok.accuracy_high).all()
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(pico_store))
    at = AppTest.from_file(str(ROOT / "pages" / "4_frontier.py"), default_timeout=120).run()
    assert not at.exception
    assert '"error_x"' in at.get("plotly_chart")[0].proto.spec


def test_min_size_effect_takes_the_worst_over_the_groups_that_are_big_enough(pico_store):
    from taskfair.steering.views import compare_methods, min_size_effect
    from taskfair.store.results import load_results

    res = load_results(pico_store, "pico")
    effect = min_size_effect(res)
    sizes = res.data[list(res.groups)].sum()
    assert sorted(effect.min_size.unique()) == sorted(set(sizes.astype(int)))
    per_group = compare_methods(res, metrics=("dpd", "eod"))
    for r in effect.itertuples():
        kept = [g for g in res.groups if sizes[g] >= r.min_size]
        assert r.groups_kept == len(kept) and r.kept == ", ".join(kept)
        part = per_group[(per_group.method == r.method) & (per_group.metric == r.metric.removeprefix("worst_"))
                         & per_group.group.isin(kept)]
        assert r.value == pytest.approx(part["mean"].max())
    # raising the threshold can only keep fewer groups and lower (or keep) the worst case
    for (method, metric), part in effect.groupby(["method", "metric"]):
        part = part.sort_values("min_size")
        assert (part.value.diff().dropna() <= 1e-12).all() and (part.groups_kept.diff().dropna() < 0).all()


def test_the_run_records_what_loading_dropped(pico_store):
    from taskfair.store import ArtifactStore

    report = ArtifactStore(pico_store).open("pico").load_json("data/report.json")
    assert set(report) == {"dropped", "notes"} and report["dropped"]


@pytest.mark.parametrize("spec", ["base", "fft", "lora", "subgroup:muslims", "uniform:0.5", "axis:black:0.5",
                                  "inject:female:0.5", "ties:0.7", "dare:0.7"])
def test_any_configuration_exports_and_measures_what_the_run_stored(res, spec, tmp_path):
    """Every configuration string exports through the one export function; the exported model's
    test accuracy equals the one the precompute stored for that point, and recreate rebuilds it."""
    from taskfair.metrics.fairness import ALL, group_rates, summary_metrics
    from taskfair.publishing.export import export_configuration

    done = export_configuration(res, spec, tmp_path / "out", seed=13, n_boot=20)
    assert done.record["configuration"] == parse_variant(spec, res.groups).spec
    stored, estimated = config_margins(res, spec, 13, "test")
    assert not estimated
    sr = res.seeds[13]
    want = summary_metrics(group_rates(stored > 0, sr.labels["test"], sr.masks["test"]))["accuracy"][0]
    got = [m["value"] for m in done.record["evaluation"]["test"]["metrics"]
           if m["group"] == ALL and m["metric"] == "accuracy"][0]
    assert got == pytest.approx(want, abs=1.5 / len(sr.labels["test"]))  # at most one example's flip
    # the card compares the model with FFT on the same resampled examples (FFT against itself: zero)
    card = (done.path / "README.md").read_text()
    assert "Against FFT and the run's front (test split, paired)" in card and "of resamples" in card
    if spec == "fft":   # the re-run may flip an example against the stored margins, no more
        row = next(line for line in card.splitlines() if line.startswith("| accuracy | "))
        assert abs(float(row.split("|")[2])) <= 1.5 / len(sr.labels["test"]), row
    _, _, sha, ok = recreate(done.path)
    assert ok and sha == done.record["merged_weights_sha256"]


def test_export_refuses_a_disk_without_room_before_writing(res, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from taskfair.publishing import export as ex
    monkeypatch.setattr(ex.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**12, used=10**12, free=1000))
    with pytest.raises(ex.ExportError, match="not enough free disk space.*export elsewhere"):
        ex.export_configuration(res, "fft", tmp_path / "out", n_boot=0)
    assert list(tmp_path.iterdir()) == []


def test_an_estimate_beyond_the_stored_points_is_marked(pico_store, capsys):
    from taskfair import load_results
    from taskfair.__main__ import main as cli
    from taskfair.steering.configurations import extrapolation
    res = load_results(pico_store, "pico")
    assert extrapolation(res, "remix:0.5,0.5,0.5") == ""
    why = extrapolation(res, "remix:2.5,0,0")
    assert "extrapolation" in why and "λ_female=2.5" in why
    assert cli(["diff", "--artifacts", str(pico_store), "--run", "pico", "fft", "remix:2.5,0,0"]) == 0
    assert "is estimated, and an extrapolation" in capsys.readouterr().err
