import json

import pandas as pd
import pytest
import torch

from taskfair import ArtifactStore, StoreError, TaskVector
from taskfair.store import atomic_path


@pytest.fixture
def run(tmp_path):
    return ArtifactStore(tmp_path / "artifacts").create("quick-seed13", {"model": "tiny", "seeds": [13]})


def test_manifest_records_config_versions_and_hashes(run):
    run.save_table("metrics.parquet", pd.DataFrame({"a": [1, 2]}))
    run.save_tensors("preds/base.safetensors", {"val": torch.arange(4.0)})
    run.save_json("summary.json", {"lam": 0.3})
    m = json.loads((run.path / "manifest.json").read_text())
    assert m["config"] == {"model": "tiny", "seeds": [13]}
    assert m["versions"]["torch"].startswith("2.13.0")
    assert set(m["files"]) == {"metrics.parquet", "preds/base.safetensors", "summary.json"}
    assert all(len(f["sha256"]) == 64 for f in m["files"].values())
    store = ArtifactStore(run.path.parent)
    assert store.runs() == ["quick-seed13"]
    again = store.open("quick-seed13")
    assert again.load_json("summary.json") == {"lam": 0.3}
    assert again.load_tensors("preds/base.safetensors")["val"].tolist() == [0, 1, 2, 3]


def test_tampered_and_missing_files_are_named(run):
    run.save_table("metrics.parquet", pd.DataFrame({"a": [1, 2]}))
    run.save_json("summary.json", {"x": 1})
    (run.path / "summary.json").write_text('{"x": 2}')
    (run.path / "metrics.parquet").unlink()
    store = ArtifactStore(run.path.parent)
    with pytest.raises(StoreError) as err:
        store.open("quick-seed13")
    assert "summary.json: sha256 differs" in str(err.value)
    assert "metrics.parquet: missing" in str(err.value)
    opened = store.open("quick-seed13", verify=False)
    with pytest.raises(StoreError, match="summary.json"):
        opened.load_json("summary.json")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new but broken")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"


def test_jobs_are_done_only_with_intact_files(run):
    tv = TaskVector({"w": torch.ones(3)}, name="g")
    run.save_task_vector("tv/g.safetensors", tv)
    assert not run.is_done("train:g")
    run.mark_done("train:g", ["tv/g.safetensors"])
    assert run.is_done("train:g")
    reopened = ArtifactStore(run.path.parent).open("quick-seed13")
    assert reopened.is_done("train:g")
    assert reopened.load_task_vector("tv/g.safetensors").deltas["w"].tolist() == [1, 1, 1]
    (run.path / "tv/g.safetensors").write_bytes(b"garbage")
    assert not reopened.is_done("train:g")
    with pytest.raises(StoreError, match="never saved"):
        run.mark_done("x", ["nothing.parquet"])


def test_resume_requires_the_same_config(run):
    store = ArtifactStore(run.path.parent)
    assert store.create("quick-seed13", {"model": "tiny", "seeds": [13]}).run_id == "quick-seed13"
    with pytest.raises(StoreError, match="different config"):
        store.create("quick-seed13", {"model": "other"})
    with pytest.raises(StoreError, match="already exists"):
        store.create("quick-seed13", {"model": "tiny", "seeds": [13]}, resume=False)


@pytest.mark.parametrize("name", ["../escape.json", "/abs.json", "a/../../b", ""])
def test_names_cannot_leave_the_run(run, name):
    with pytest.raises(StoreError, match="invalid artifact name"):
        run.save_json(name, {})


def test_unknown_run_is_explained(tmp_path):
    with pytest.raises(StoreError, match="no run 'nope'.*precompute"):
        ArtifactStore(tmp_path).open("nope")


def test_equal_tensors_give_byte_identical_files(tmp_path):
    from taskfair.store import save_task_vector
    tv = TaskVector({f"w{i}": torch.full((3,), float(i)) for i in range(6)}, base_sha256="ab" * 32,
                    base_model="m", name="g")
    digests = {save_task_vector(tmp_path / f"{i}.safetensors", tv).read_bytes() for i in range(8)}
    assert len(digests) == 1


def test_run_layout_is_the_one_runs_were_written_in(pico_store):
    """Runs written before the codebase was reorganised keep opening: the names inside a run
    folder are the ones the layout has always used."""
    from taskfair.store import layout
    run = ArtifactStore(pico_store).open("pico")
    files = set(run.manifest["files"])
    assert {"data/dataset.parquet", "data/report.json", "seed13/splits.json", "seed13/base.json",
            "seed13/tv/fft.safetensors", "seed13/tv/lora.safetensors", "seed13/tv/female.safetensors",
            "seed13/preds/lora.safetensors", "seed13/preds/inject-female.safetensors", "metrics.parquet",
            "summary.json", "headline.parquet"} <= files
    assert layout.task_vector(13, "female") == "seed13/tv/female.safetensors"
    assert layout.predictions(13, "axis/black") == "seed13/preds/axis-black.safetensors"
    assert run.groups() == ["female", "muslims", "black"]
    assert run.task_vector(13, "female").base_sha256 == run.base_sha256(13)
    assert set(run.prediction_files(13)) >= {"uniform", "lora", "inject-female", "axis-black"}
    assert {"seed13/train/fft", "seed13/eval/uniform", "data", "metrics"} <= set(run.manifest["jobs"])


def test_a_run_in_an_unknown_format_says_how_to_recompute(tmp_path):
    store = ArtifactStore(tmp_path)
    run = store.create("old", {"seeds": [1]})
    run.manifest["format"] = "taskfair.run/0"
    run._write_manifest()
    with pytest.raises(StoreError, match=r"format 'taskfair.run/0'.*python -m precompute"):
        store.open("old")
