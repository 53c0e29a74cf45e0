"""The whole precompute pipeline on a tiny random model and a slice of real RedditBias rows,
including a SIGKILL in the middle and a resume."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskfair import ArtifactStore
from precompute.profiles import load_profile
from taskfair.store.results import load_predictions
from precompute.pipeline import run_study

ROOT = Path(__file__).resolve().parent.parent

from conftest import PICO_OVERRIDES as PICO


def _cfg(root, name="pico", **extra):
    return load_profile("quick", {**PICO, "name": name, "output_root": str(root), **extra})


def test_pipeline_stores_everything_the_dashboard_needs(tmp_path):
    cfg = _cfg(tmp_path)
    res = run_study(cfg, progress=False)
    run = ArtifactStore(tmp_path).open("pico")  # verifies every sha256
    groups = ("female", "muslims", "black")
    for name in ("fft", "lora", *groups):
        tv = run.load_task_vector(f"seed13/tv/{name}.safetensors")
        assert tv.name == name and tv.norm() > 0
    preds = load_predictions(run, 13)
    assert set(preds) == {"lora", "reference", "models", "uniform", *(f"inject-{g}" for g in groups),
                          *(f"axis-{g}" for g in groups), "pairs", "probes", "method-ties", "method-dare"}
    idx = run.load_json("seed13/splits.json")
    points, arrays = preds["uniform"]
    assert [p["lam"] for p in points] == [0.0, 0.5, 1.0]
    assert arrays["val"].shape == (3, len(idx["val"])) and arrays["test"].shape == (3, len(idx["test"]))
    # shared points are evaluated once and agree everywhere they appear
    ref, models = preds["reference"][1]["test"], preds["models"][1]["test"]
    assert [p["family"] for p in preds["reference"][0]] == ["base", "fft"]
    np.testing.assert_array_equal(arrays["test"][0], ref[0])             # uniform λ=0 = base
    np.testing.assert_array_equal(preds["inject-female"][1]["test"][0], ref[1])  # inject λ=0 = FFT
    axis_points, axis_arrays = preds["axis-black"]
    at_one = [p["lam"] for p in axis_points].index(1.0)
    np.testing.assert_array_equal(axis_arrays["test"][at_one], models[2])  # axis λ=1 = model
    assert not np.allclose(ref[0], ref[1])
    # pair points: two subgroups at the same λ; probes: random per-subgroup λ in [0, 1], seeded
    pair_points, pair_arrays = preds["pairs"]
    assert len(pair_points) == 2 * 3 and {p["target"] for p in pair_points} == {
        "female+muslims", "female+black", "muslims+black"}
    np.testing.assert_allclose(pair_arrays["coef"][0], [0, 0.5, 0.5, 0])
    probe_coef = preds["probes"][1]["coef"]
    assert probe_coef.shape == (6, 4) and (probe_coef[:, 0] == 0).all()
    assert ((probe_coef[:, 1:] >= 0) & (probe_coef[:, 1:] <= 1)).all() and len(np.unique(probe_coef, axis=0)) == 6

    table = run.load_table("metrics.parquet")
    assert {"seed", "split", "family", "target", "lam", "group", "metric", "value"} <= set(table.columns)
    assert set(table.family) == {"base", "fft", "subgroup", "lora", "uniform", "inject", "axis", "pair", "probe",
                                 "ties", "dare"}
    # TIES and DARE are other merges than plain addition at the same λ, stored as their own family
    ties = preds["method-ties"][1]["test"]
    assert ties.shape[0] == 3 and not np.allclose(ties[-1], arrays["test"][-1])
    # 95% bootstrap intervals over the evaluation examples, for every point
    acc = table[(table.metric == "accuracy") & (table.group == "(all)")]
    assert acc[["low", "high"]].notna().all().all() and (acc.low <= acc.high).all()
    assert ((acc.low <= acc.value + 1e-9) & (acc.value <= acc.high + 1e-9)).mean() > 0.9
    assert (acc.high - acc.low).between(0.01, 0.5).all()
    summary = run.load_json("summary.json")
    assert summary["chosen_lambda"]["13"] in (0.0, 0.5, 1.0)
    assert summary["worst_subgroup_fft"] in groups
    val_acc = table[(table.split == "val") & (table.family == "uniform") & (table.group == "(all)")
                    & (table.metric == "accuracy")]
    assert val_acc.loc[val_acc.value.idxmax(), "lam"] == summary["chosen_lambda"]["13"]
    headline = run.load_table("headline.parquet")
    assert list(headline.method) == ["base", "FFT", "LoRA", "task addition (chosen λ)"]
    assert res.timings["train"] > 0 and res.timings["evaluate"] > 0

    # a second run skips every finished job and changes nothing
    before = json.loads((run.path / "manifest.json").read_text())["files"]
    again = run_study(cfg, progress=False)
    # train jobs + eval jobs (reference, models, uniform, inject and axis per group, pairs, probes, ties, dare)
    assert again.skipped_jobs == (2 + len(groups)) + (3 + 2 * len(groups) + 2 + 2)
    after = json.loads((run.path / "manifest.json").read_text())["files"]
    assert {k: v["sha256"] for k, v in before.items() if "preds" in k or "/tv/" in k} == \
           {k: v["sha256"] for k, v in after.items() if "preds" in k or "/tv/" in k}


def test_results_so_far_while_the_run_computes(tmp_path, monkeypatch):
    """Stopped after training (θ0, FFT and LoRA evaluated): the run shows its results so far with
    its progress; resumed (with a compiled grid), it finishes and the interim results are gone."""
    import precompute.pipeline as pipeline
    from taskfair.store import NoResultsYet, StoreError, load_results, run_progress

    class Stop(Exception):
        pass

    def stop(ctx):
        raise Stop

    cfg = _cfg(tmp_path, **{"grids.probes": 2, "grids.methods": []})
    with pytest.raises(NoResultsYet):
        ArtifactStore(tmp_path).create("pico", cfg.to_dict())
        load_results(tmp_path, "pico", partial=True)
    monkeypatch.setattr(pipeline, "evaluate_grid", stop)
    with pytest.raises(Stop):
        run_study(cfg, progress=False)
    run = ArtifactStore(tmp_path).open("pico")
    with pytest.raises(StoreError, match="has not finished"):
        load_results(tmp_path, "pico")
    res = load_results(tmp_path, "pico", partial=True)
    assert not res.finished
    assert set(res.metrics.family) == {"base", "fft", "lora"}
    assert res.summary["worst_subgroup_fft"] in res.groups and res.summary["chosen_lambda"] == {}
    assert set(res.seeds[13].files) == {"reference", "lora"}
    prog = run_progress(run)
    assert prog.jobs_done == 2 + 5 + 1 and prog.jobs_total == len(pipeline.planned_jobs(cfg, res.groups))
    assert 0 < prog.fraction < 1 and not prog.running and prog.pending[0] == "seed13/eval/models"
    assert "no precompute is running" in prog.describe()

    monkeypatch.undo()
    from taskfair.steering.exact import load_theta0, merged_model, model_margins
    run_study(dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, compile=True)), progress=False,
              on_change="resume")
    run = ArtifactStore(tmp_path).open("pico")
    assert run.interim() is None and not any((run.path / "interim").glob("*"))
    assert run_progress(run).finished
    done = load_results(tmp_path, "pico", partial=True)
    assert done.finished and {"uniform", "probe"} <= set(done.metrics.family)
    # a point of the compiled grid equals the same point evaluated uncompiled
    lams, stored = done.seeds[13].margins("uniform", split="test")
    base = load_theta0(run, 13)
    again = model_margins(run, 13, merged_model(run, 13, [lams[-1]] * 3, base), base[1], splits=("test",))["test"]
    np.testing.assert_allclose(stored[-1], again, atol=1e-4)


def _cli(root, name, *extra):
    args = [sys.executable, "-m", "precompute", "--config", "quick", "--no-progress",
            "--output-root", str(root), "--set", f"name={name}"]
    for k, v in PICO.items():
        args += ["--set", f"{k}={json.dumps(v)}"]
    return args + list(extra)


def assert_same_artifacts(root_a, root_b, run_id: str = "pico") -> None:
    """Every stored tensor file byte-identical (by sha256), the same metrics and summary."""
    a, b = ArtifactStore(root_a).open(run_id), ArtifactStore(root_b).open(run_id)
    fa, fb = a.manifest["files"], b.manifest["files"]
    assert set(fa) == set(fb)
    for name in fa:
        if name.endswith(".safetensors"):
            assert fa[name]["sha256"] == fb[name]["sha256"], name
    pd.testing.assert_frame_equal(a.load_table("metrics.parquet"), b.load_table("metrics.parquet"))
    assert a.load_json("summary.json") == b.load_json("summary.json")


def test_bad_config_fails_before_training(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(_cli(tmp_path, "bad", "--set", "dataset.subgroups=[female, martians]"),
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "martians" in out.stderr
    assert not (tmp_path / "bad").exists()
    out = subprocess.run(_cli(tmp_path, "bad", "--set", "train.epochs=-1"), cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "config error" in out.stderr and "epochs" in out.stderr


# gender and race are the intersectional protocol on one attribute: run in `make test-all`, kept out
# of CI for time (intersectional, which CI runs, goes through the same loader and profile code)
@pytest.mark.parametrize("attribute", [pytest.param("gender", marks=pytest.mark.slow),
                                       pytest.param("race", marks=pytest.mark.slow), "intersectional"])
def test_paper_profiles_run_on_a_fixture_with_a_tiny_model(tmp_path, attribute):
    from test_data import _mhs_fixture
    base = _mhs_fixture()
    if attribute == "intersectional":  # a second intersection, so one-against-the-rest is defined
        extra = base.iloc[[0]].copy()
        extra["text"], extra["comment_id"] = "black men are loud", 999
        for c in [c for c in base.columns if c.startswith("target_")]:
            extra[c] = c in ("target_gender", "target_race", "target_gender_men", "target_race_black")
        base = pd.concat([base, extra], ignore_index=True)
    # enough rows per subgroup for every split: replicate with distinct texts and mixed labels
    rows = []
    for rep in range(30):
        part = base.copy()
        part["text"] = part["text"] + f" #{rep}"
        part["hate_speech_score"] = 1.0 if rep % 2 else -1.0
        rows.append(part)
    path = tmp_path / "mhs.parquet"
    pd.concat(rows, ignore_index=True).to_parquet(path)
    cfg = load_profile(f"paper-{attribute}", {
        "model": "tiny-bert", "dataset.path": str(path), "seeds": [13], "dataset.val_size": 0.3,
        "train.epochs": 1, "train.max_length": 32, "train.precision": "fp32",
        "grids.uniform": [0.0, 1.0], "grids.inject": [0.0, 1.0], "grids.axis": [1.0],
        "eval.precision": "fp32", "output_root": str(tmp_path / "art"),
        **({"dataset.min_group_size": 20} if attribute == "intersectional" else {})})
    res = run_study(cfg, progress=False)
    from taskfair.data import MHS_SUBGROUPS
    if attribute == "intersectional":  # the fixture's intersections with ≥ 20 rows
        assert res.summary["worst_subgroup_fft"] in ("women-asian", "men-black")
        assert set(res.run.load_table("data/dataset.parquet").columns) == {"text", "label", "women-asian", "men-black"}
        notes = res.run.load_json("data/report.json")["notes"]   # what min_group_size left out, with sizes
        assert any("below min_size=20 left out" in n and "rows)" in n for n in notes)
        return
    assert res.summary["worst_subgroup_fft"] in set(MHS_SUBGROUPS[attribute]) - {"other"}
    assert len(res.headline) == 4


def test_exact_duplicate_texts_keep_their_own_rows_in_the_stored_splits():
    """Two rows with the same text (and different labels) are two rows: the stored split
    indices must point at both, not twice at one of them."""
    import numpy as np

    from taskfair.data import Dataset, split_dataset
    from precompute.pipeline import _split_indices

    texts = tuple(f"text {i}" for i in range(60)) + ("same", "same")
    labels = np.array([i % 2 for i in range(60)] + [0, 1], dtype=np.int8)
    data = Dataset("dups", texts, labels, np.ones((62, 1), bool), ("g",))
    sp = split_dataset(data, seed=0)
    idx = _split_indices(sp)
    every = sorted(i for part in idx.values() for i in part)
    assert every == list(range(62))
    for name, part in sp:
        assert [data.texts[i] for i in idx[name]] == list(part.texts)
        assert data.labels[idx[name]].tolist() == part.labels.tolist()
