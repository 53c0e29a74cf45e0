"""Faults, security and undefined metrics (RELIABILITY.md lists every case and its test)."""
import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_study import assert_same_artifacts

from taskfair import TaskVector, save_task_vector
from taskfair.publishing.export import ExportError, export_model
from taskfair.models import ModelError, load_classifier, tiny_classifier
from taskfair.store import ArtifactStore, StoreError, atomic_path
from taskfair.vectors.streaming import stream_merge
from taskfair.vectors.taskvector import TaskVectorMismatch, model_weights

ROOT = Path(__file__).resolve().parent.parent
ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def _leftovers(folder: Path, stem: str) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(f".{stem}")]


# --------------------------------------------------------------------------- full disk / write errors

def test_full_disk_while_storing_leaves_no_file_and_no_manifest_entry(tmp_path, monkeypatch):
    run = ArtifactStore(tmp_path).create("r", {"x": 1})
    run.save_tensors("a.safetensors", {"t": torch.ones(3)})
    before = json.loads((run.path / "manifest.json").read_text())

    def full(fd):
        raise ENOSPC
    monkeypatch.setattr("taskfair.store.files.os.fsync", full)
    with pytest.raises(StoreError, match="No space left.*it needs .* MB are free"):
        run.save_tensors("b.safetensors", {"t": torch.ones(3)})
    with pytest.raises(StoreError, match="No space left.*it needs .* MB are free"):
        run.save_tensors("a.safetensors", {"t": torch.zeros(3)})  # overwrite attempt
    monkeypatch.undo()
    assert not (run.path / "b.safetensors").exists()
    assert [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")] == []
    assert json.loads((run.path / "manifest.json").read_text()) == before
    assert torch.equal(ArtifactStore(tmp_path).open("r").load_tensors("a.safetensors")["t"], torch.ones(3))


def test_full_disk_while_exporting_leaves_no_export(tmp_path, monkeypatch):
    model, tok = tiny_classifier("bert", seed=0)
    target = tmp_path / "exports" / "merged"

    def broken_save(self, *a, **k):
        (Path(a[0]) / "tokenizer.json").write_text("{half")
        raise ENOSPC
    monkeypatch.setattr(type(tok), "save_pretrained", broken_save)
    # one line naming the place and the cause, not a raw OS error
    with pytest.raises(ExportError, match="nothing was written: .*merged: no space left on the disk"):
        export_model(model, tok, target, provenance={"base": "tiny"})
    assert not target.exists() and _leftovers(target.parent, "merged") == []


def test_write_error_while_streaming_a_merge_leaves_nothing(tmp_path, monkeypatch):
    from safetensors.torch import save_file
    save_file({"w": torch.randn(64, 64)}, str(tmp_path / "base.safetensors"))
    vec = save_task_vector(tmp_path / "v.safetensors", TaskVector({"w": torch.ones(64, 64)}, name="v"))

    def full(fd):
        raise ENOSPC
    monkeypatch.setattr("taskfair.vectors.streaming.os.fsync", full)
    with pytest.raises(OSError, match="No space left"):
        stream_merge(tmp_path / "base.safetensors", [vec], [1.0], tmp_path / "out")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path, "out") == []


def test_atomic_path_keeps_the_old_file_when_the_disk_fills(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"finished")

    def full(fd):
        raise ENOSPC
    monkeypatch.setattr("taskfair.store.files.os.fsync", full)
    with pytest.raises(OSError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
    assert target.read_bytes() == b"finished" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


# --------------------------------------------------------------------------- kills at random points

def _cli(root: Path) -> list[str]:
    from test_study import _cli as study_cli
    return study_cli(root, "pico")


def test_killed_at_random_points_in_every_stage_then_resumed_gives_identical_artifacts(pico_store, tmp_path):
    """SIGKILL three times, each at a random moment after a job of another stage has finished
    (training, evaluation, the last evaluations before the metrics), then let it finish. The
    reference is the session's pico run, made in one go with the same settings (a run in this
    process and one in a subprocess store identical artifacts: checked once, and the comparison
    below would catch any difference)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    rng = random.Random(20261123)
    root = tmp_path / "killed"
    manifest = root / "pico" / "manifest.json"
    kills = 0
    for after in ("seed13/train/fft", "seed13/eval/models", "seed13/eval/axis/female"):
        proc = subprocess.Popen(_cli(root), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            try:
                jobs = json.loads(manifest.read_text())["jobs"] if manifest.exists() else {}
            except json.JSONDecodeError:
                jobs = {}
            if after in jobs:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2, "the run finished before it could be killed; the test proves nothing"
    done = subprocess.run(_cli(root), cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    reused = int(re.search(r"\((\d+) finished job\(s\) reused\)", done.stdout).group(1))
    assert reused >= 2 + 3  # FFT, LoRA and the subgroup models were not trained again
    assert_same_artifacts(pico_store, root)


# --------------------------------------------------------------------------- security

def test_pickle_weights_are_refused(tmp_path):
    model, tok = tiny_classifier("bert", seed=0)
    folder = tmp_path / "pickled"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # the pickle format
    assert not list(folder.glob("*.safetensors")) and list(folder.glob("*.bin"))
    with pytest.raises(ModelError, match="safetensors only"):
        load_classifier(str(folder))


def test_remote_code_in_a_model_folder_is_not_run_by_default(tmp_path):
    model, tok = tiny_classifier("bert", seed=0)
    folder = tmp_path / "custom"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    marker = tmp_path / "code-was-run"
    (folder / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import BertForSequenceClassification as EvilModel\n")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForSequenceClassification": "evil.EvilModel",
                       "AutoConfig": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    try:
        loaded, _ = load_classifier(str(folder))
        assert type(loaded).__name__ == "BertForSequenceClassification"
    except ModelError:
        pass  # refusing is fine too; running the code is not
    assert not marker.exists()


def test_dashboard_binds_to_localhost_by_default():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1"
    # no watcher over the project folder, whose .venv holds every imported module (see config.toml)
    assert cfg["server"]["fileWatcherType"] == "none"
    make = (ROOT / "Makefile").read_text()
    assert "--server.address 127.0.0.1" in make and "0.0.0.0" not in make
    assert "--server.address 0.0.0.0" in (ROOT / "README.md").read_text()  # how to expose it


def test_no_unsafe_torch_load_anywhere():
    for path in [*ROOT.glob("taskfair/*.py"), *ROOT.glob("precompute/*.py"), *ROOT.glob("ui/*.py"),
                 *ROOT.glob("pages/*.py"), ROOT / "app.py"]:
        for call in re.findall(r"torch\.load\([^)]*\)", path.read_text()):
            assert "weights_only=True" in call, f"{path}: {call}"
        assert "trust_remote_code=True" not in path.read_text(), path


# --------------------------------------------------------------------------- dtype mismatch

def test_task_vector_from_weights_in_different_precisions_is_refused():
    model, _ = tiny_classifier("bert", seed=0)
    base = model_weights(model)
    half = {k: v.to(torch.bfloat16) for k, v in base.items()}
    with pytest.raises(TaskVectorMismatch, match="dtype mismatch.*bfloat16"):
        TaskVector.from_weights(base, half)


def test_streamed_vector_with_integer_entries_is_refused(tmp_path):
    from safetensors.torch import save_file
    save_file({"w": torch.randn(4, 4)}, str(tmp_path / "base.safetensors"))
    save_file({"w": torch.ones(4, 4, dtype=torch.int64)}, str(tmp_path / "v.safetensors"))
    with pytest.raises(TaskVectorMismatch, match="floating point"):
        stream_merge(tmp_path / "base.safetensors", [tmp_path / "v.safetensors"], [1.0], tmp_path / "o")


# --------------------------------------------------------------------------- undefined metrics

@pytest.fixture(scope="module")
def no_positive_store(tmp_path_factory, redditbias):
    """A tiny run on a table where the 'muslims' rows of the test split are all negatives."""
    from conftest import PICO_OVERRIDES
    from precompute.profiles import load_profile
    from precompute.pipeline import run_study
    three = redditbias.select_groups(["female", "muslims", "black"])
    rng = np.random.default_rng(1)
    idx = np.sort(rng.choice(len(three), size=300, replace=False))
    part = three.subset(idx)
    df = pd.DataFrame({"text": part.texts, "label": part.labels})
    for j, g in enumerate(part.groups):
        df[g] = part.membership[:, j].astype(int)
    # membership does not move rows between splits: take the muslims label off the test rows
    # with label 1, so the group has no positives in test (but both labels in training)
    from taskfair.data import dataset_from_frame, split_dataset
    sp = split_dataset(dataset_from_frame(df, name="t", group_columns=list(part.groups)), seed=13)
    test_pos = set(np.asarray(sp.test.texts)[sp.test.labels == 1])
    df.loc[df["text"].isin(test_pos), "muslims"] = 0
    root = tmp_path_factory.mktemp("nopos")
    path = root / "data.csv"
    df.to_csv(path, index=False)
    cfg = load_profile("quick", {**PICO_OVERRIDES, "name": "nopos", "output_root": str(root / "artifacts"),
                                "dataset.name": "table", "dataset.path": str(path),
                                "dataset.group_columns": ["female", "muslims", "black"], "dataset.group_column": None,
                                "dataset.subgroups": None, "dataset.max_rows": None,
                                "train.epochs": 1, "grids.probes": 0, "grids.pairs": []})
    run_study(cfg, progress=False)
    return root / "artifacts"


def test_undefined_metrics_show_their_reason_in_the_dashboard(no_positive_store, monkeypatch):
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(no_positive_store))
    for page in ("app.py", "pages/2_remix.py", "pages/3_heatmaps.py"):
        at = AppTest.from_file(str(ROOT / page), default_timeout=120)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        text = " ".join(w.value for w in at.warning)
        assert "muslims" in text and "no positives in the group" in text, (page, text)


# --------------------------------------------------------------------------- paths and labels

@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/b", "..", ".hidden", "", "x" * 300,
                                  "name with spaces", "dots..inside"])
def test_export_names_that_leave_the_folder_or_are_odd_are_refused(tmp_path, name):
    from taskfair.publishing.export import ExportError, safe_export_dir
    with pytest.raises(ExportError, match="not allowed|would leave"):
        safe_export_dir(tmp_path, name)


def test_export_into_an_existing_folder_or_a_symlink_out_is_refused(tmp_path):
    from taskfair.publishing.export import ExportError, safe_export_dir
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "taken").mkdir()
    with pytest.raises(ExportError, match="already exists"):
        safe_export_dir(tmp_path / "exports", "taken")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "exports" / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ExportError, match="would leave|already exists"):
        safe_export_dir(tmp_path / "exports", "link")
    assert safe_export_dir(tmp_path / "exports", "fresh-1.0") == (tmp_path / "exports" / "fresh-1.0").resolve()


def test_subgroup_with_one_label_in_training_fails_before_training(tmp_path, redditbias):
    from conftest import PICO_OVERRIDES
    from precompute.profiles import load_profile
    from taskfair.data import DataError
    from precompute.pipeline import validate_study
    part = redditbias.select_groups(["female", "muslims"])
    df = pd.DataFrame({"text": part.texts, "label": part.labels,
                       "female": part.membership[:, 0].astype(int), "muslims": part.membership[:, 1].astype(int)})
    df.loc[df.muslims == 1, "label"] = 0
    df.to_csv(tmp_path / "d.csv", index=False)
    cfg = load_profile("quick", {**PICO_OVERRIDES, "dataset.name": "table", "dataset.path": str(tmp_path / "d.csv"),
                                "dataset.group_columns": ["female", "muslims"], "dataset.group_column": None,
                                "dataset.subgroups": None,
                                "output_root": str(tmp_path / "a")})
    with pytest.raises(DataError, match="'muslims' has only label 0 in the training split"):
        validate_study(cfg)
    assert not (tmp_path / "a").exists()
