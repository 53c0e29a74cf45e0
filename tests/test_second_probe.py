"""The holes a second probe of bad input found, one test per class: runs without a manifest are
never written into, numbers are read the way a person means them, everything a run needs is
checked before training, output places fail in one line by their cause, data is not accepted
silently, metrics refuse what they cannot measure, and interrupted writes leave nothing behind.
(Hostile dashboard links: ``test_hostile.py`` and ``test_browser.py``; forged export records:
``test_reports.py::test_recreate_refuses_a_record_that_does_not_describe_the_folders_weights``.)"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from precompute.__main__ import _parse_set, main
from test_bad_input import _csv, _rows, _table_args


def _one_line(err: str, expect: str) -> None:
    assert expect in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# ---- numbers and --set values ------------------------------------------------------------

def test_set_values_are_read_as_a_person_means_them():
    got = _parse_set(["dataset.group_separator=|", "a=0_3", "b=nan", "c=1e-4", "d=[13,14]", "e='x,y'",
                      "f=true", "g=null", "h=-2", "i=[a, 'b,c']", "j=inf"])
    assert got == {"dataset.group_separator": "|", "a": "0_3", "b": "nan", "c": 1e-4, "d": [13, 14],
                   "e": "x,y", "f": True, "g": None, "h": -2, "i": ["a", "b,c"], "j": "inf"}


def test_the_readmes_separator_command_validates(tmp_path, capsys):
    csv = _csv(tmp_path / "d.csv", _rows(["a|b", "a", "b"], n=60))
    assert main(_table_args(tmp_path, csv, "--set", "dataset.group_separator=|")) == 0, capsys.readouterr().err
    assert "config is valid" in capsys.readouterr().out


@pytest.mark.parametrize("setting, expect", [
    ("train.epochs=0_3", "train.epochs: expected a number, got '0_3'"),
    ("train.learning_rate=nan", "train.learning_rate: expected a number, got 'nan'"),
    ("grids.uniform=[0.5,inf]", "grids.uniform[1]: expected a number, got 'inf'"),
    ("seeds=[-1]", "seeds: seeds are whole numbers from 0 to 2**32 - 1"),
    ("seeds=[13,1_4]", "seeds[1]: expected an integer, got '1_4'"),
    ("train.epochs=1e9", "epochs=1000000000.0 (must be in (0, 1000])"),
    ("train.learning_rate=1e9", "learning_rate=1000000000.0 (must be in (0, 1])"),
    ("train.max_length=100000000", "max_length=100000000 (must be from 8 to 131072)"),
    ("dataset.subgroups=[female,female]", "dataset.subgroups: 'female' is listed twice"),
    ("dataset.subgroups=[female,Female]", "'female' and 'Female' differ only by case"),
])
def test_settings_that_would_run_wrong_or_crash_late_are_refused_by_name(tmp_path, capsys, setting, expect):
    assert main(["--validate", "--set", f"output_root={tmp_path / 'art'}", "--set", setting]) == 2
    _one_line(capsys.readouterr().err, expect)
    assert not (tmp_path / "art").exists()


def test_url_and_configuration_strings_share_the_strict_reader():
    from taskfair.steering.configurations import VariantSpecError, parse_variant
    from ui.common import parse_lams
    groups = ["a", "b", "c"]
    for raw in ("0_1,0.2,0.3", "nan,0.2,0.3", "inf,0,0", "0x1,0,0", "١,0,0"):
        vals, problem = parse_lams(raw, groups, -1, 1.5)
        assert vals is None and "not a comma-separated list of numbers" in problem, raw
    assert parse_lams("0.1,-0.2,.5", groups, -1, 1.5) == ([0.1, -0.2, 0.5], None)
    with pytest.raises(VariantSpecError, match="no '_' between digits"):
        parse_variant("remix:0_3,0.1,0.1", groups)
    with pytest.raises(VariantSpecError, match="whole numbers"):
        parse_variant("layerwise[1_0]:1/1/1/1/1,1/1/1/1/1,1/1/1/1/1", groups)
    long = parse_variant.__module__  # noqa: F841 - (the message of a 400 KB spec is cut)
    with pytest.raises(VariantSpecError) as exc:
        parse_variant("remix:" + "1" * 400_000, groups)
    assert len(str(exc.value)) < 500 and "400,006 characters" in str(exc.value)


# ---- the environment and the output place, before training --------------------------------

@pytest.mark.parametrize("var, value", [("TASKFAIR_MEMORY_BUDGET", "abc"), ("TASKFAIR_VECTOR_SHARD", "abc"),
                                        ("TASKFAIR_MEMORY_BUDGET", "1_0G"), ("TASKFAIR_VECTOR_SHARD", "nanG"),
                                        ("TASKFAIR_MEMORY_BUDGET", "0")])
def test_environment_settings_are_read_before_training(tmp_path, capsys, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    assert main(["--validate", "--set", f"output_root={tmp_path / 'art'}"]) == 2
    _one_line(capsys.readouterr().err, f"environment setting {var}")


def test_an_output_root_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["--validate", "--set", f"output_root={tmp_path / 'afile' / 'art'}"]) == 2
    _one_line(capsys.readouterr().err, f"a file is in the way ({tmp_path / 'afile'} is a file)")


def test_output_places_are_named_by_their_cause(tmp_path, monkeypatch):
    from taskfair.store import StoreError
    from taskfair.store.files import check_output_place, os_error_line
    p = tmp_path / "out"
    lines = {code: os_error_line(OSError(code, os.strerror(code)), p)
             for code in (errno.EROFS, errno.ENOSPC, errno.EFBIG, errno.EACCES, errno.ENOTDIR)}
    assert "read-only" in lines[errno.EROFS] and "space" not in lines[errno.EROFS]
    assert "no space left" in lines[errno.ENOSPC]
    assert "file size limit" in lines[errno.EFBIG] and "space" not in lines[errno.EFBIG]
    assert "permission denied" in lines[errno.EACCES]
    assert "a file is in the way" in lines[errno.ENOTDIR]
    with pytest.raises(StoreError, match="not enough free disk space"):
        check_output_place(p, need=1 << 60)

    real = os.statvfs

    class ReadOnly:   # a read-only mount, as statvfs reports it (root ignores file modes)
        def __init__(self, st):
            self._st = st

        def __getattr__(self, k):
            return os.ST_RDONLY | self._st.f_flag if k == "f_flag" else getattr(self._st, k)
    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly(real(path)))
    with pytest.raises(StoreError, match="the disk is read-only"):
        check_output_place(p)


def test_a_store_write_past_a_size_limit_is_not_called_a_full_disk(tmp_path, monkeypatch):
    import torch

    from taskfair.store import ArtifactStore, StoreError
    run = ArtifactStore(tmp_path).create("r", {"a": 1})

    def too_big(*a, **k):
        raise OSError(errno.EFBIG, "File too large")
    monkeypatch.setattr("taskfair.store.run.save_safetensors", too_big)
    with pytest.raises(StoreError) as exc:
        run.save_tensors("t.safetensors", {"w": torch.ones(3)})
    assert "file size limit" in str(exc.value) and "free" not in str(exc.value)
    assert [p.name for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")] == []


# ---- runs without a manifest; leftovers ---------------------------------------------------

def test_a_run_folder_with_files_but_no_manifest_is_never_written_into(tmp_path):
    from taskfair.store import ArtifactStore, StoreError
    store = ArtifactStore(tmp_path)
    run = store.create("r", {"a": 1})
    run.save_json("summary.json", {"kept": True})
    (tmp_path / "r" / "manifest.json").unlink()   # lost, or deleted by hand
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()}
    with pytest.raises(StoreError, match="holds files .*summary.json.* but no manifest.json"):
        store.create("r", {"a": 2})
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()} == before
    # --force-new sets it aside whole, and starts afresh
    store.create("r", {"a": 2}, on_change="new")
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("r.replaced-")]
    assert len(aside) == 1 and json.loads((aside[0] / "summary.json").read_text()) == {"kept": True}
    assert store.open("r", verify=False).config == {"a": 2}


def test_a_precompute_into_a_manifestless_run_folder_stops_before_training(tmp_path, capsys):
    art = tmp_path / "art"
    (art / "quick").mkdir(parents=True)
    (art / "quick" / "vectors").mkdir()
    (art / "quick" / "vectors" / "old.safetensors").write_bytes(b"old weights")
    assert main(["--set", f"output_root={art}", "--set", "model=tiny-bert", "--no-progress"]) == 2
    _one_line(capsys.readouterr().err, "but no manifest.json")
    assert (art / "quick" / "vectors" / "old.safetensors").read_bytes() == b"old weights"
    assert sorted(p.name for p in (art / "quick").iterdir()) == ["vectors"]


def test_temporary_files_of_an_interrupted_write_are_removed_on_resume(tmp_path):
    from taskfair.store import ArtifactStore
    store = ArtifactStore(tmp_path)
    store.create("r", {"a": 1})
    (tmp_path / "r" / "vectors").mkdir()
    left = [tmp_path / "r" / ".fft.safetensors.k2j3.tmp", tmp_path / "r" / "vectors" / ".x.safetensors.9a.tmp"]
    for p in left:
        p.write_bytes(b"half a tensor")   # a kill -9 between the write and the rename
    logged = []
    store.create("r", {"a": 1}, log=logged.append)
    assert not any(p.exists() for p in left)
    assert logged and "removed 2 temporary file(s)" in logged[0]


# ---- exports ------------------------------------------------------------------------------

def _tiny():
    from taskfair.models.loading import tiny_classifier
    return tiny_classifier("bert", seed=0)


def test_exported_files_have_ordinary_modes(tmp_path):
    from taskfair.publishing.export import export_model
    model, tok = _tiny()
    old = os.umask(0o022)
    try:
        out = export_model(model, tok, tmp_path / "exports" / "m", provenance={"base": "tiny"})
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}, modes
    assert out.stat().st_mode & 0o777 == 0o755


def test_two_exports_into_one_folder_give_the_loser_one_line(tmp_path, monkeypatch):
    from taskfair.publishing import export as ex
    model, tok = _tiny()
    target = tmp_path / "exports" / "m"
    real = os.rename

    def racing(src, dst):   # the other export finishes first, between the check and the rename
        if Path(dst) == target and not target.exists():
            target.mkdir()
            (target / "model.safetensors").write_bytes(b"the winner's")
        return real(src, dst)
    monkeypatch.setattr(ex.os, "rename", racing)
    with pytest.raises(ex.ExportError, match="created by another export while this one was written"):
        ex.export_model(model, tok, target, provenance={"base": "tiny"})
    assert (target / "model.safetensors").read_bytes() == b"the winner's"
    assert sorted(p.name for p in target.parent.iterdir()) == ["m"]   # the loser's temporary folder is gone


def test_an_export_folder_that_is_a_file_or_read_only_is_one_line(tmp_path, monkeypatch):
    from taskfair.publishing.export import ExportError, export_model
    model, tok = _tiny()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ExportError, match="a file is in the way"):
        export_model(model, tok, tmp_path / "afile" / "m", provenance={"base": "tiny"})
    import taskfair.publishing.export as ex

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(ex.tempfile, "mkdtemp", read_only)
    with pytest.raises(ExportError, match="the disk is read-only"):
        export_model(model, tok, tmp_path / "ro" / "m", provenance={"base": "tiny"})


# ---- data accepted without a word ---------------------------------------------------------

@pytest.mark.parametrize("case, expect", [
    ("semicolons", "the file looks separated by semicolons"),
    ("tabs_in_csv", "the file looks separated by tabs"),
    ("duplicate_label", "the label column 'label' appears more than once"),
    ("case_groups", "'Black' and 'black', which differ only by case"),
    ("text_parquet", "is not a readable parquet file"),
    ("huge_text", "texts over 100,000 characters"),
])
def test_data_that_was_accepted_silently_or_crashed_is_named(tmp_path, capsys, case, expect):
    csv = tmp_path / "data.csv"
    if case == "semicolons":
        csv.write_text("text;label;group\n" + "".join(f"c {i};{i % 2};a\n" for i in range(40)))
    elif case == "tabs_in_csv":
        csv.write_text("text\tlabel\tgroup\n" + "".join(f"c {i}\t{i % 2}\ta\n" for i in range(40)))
    elif case == "duplicate_label":
        _csv(csv, [r + f",{i % 2}" for i, r in enumerate(_rows(["a", "b", "c"]))], header="text,label,group,label")
    elif case == "case_groups":
        _csv(csv, _rows(["black", "Black", "white"], n=60))
    elif case == "text_parquet":
        csv = tmp_path / "data.parquet"
        csv.write_text("text,label,group\nhello,1,a\n")
    elif case == "huge_text":
        _csv(csv, _rows(["a", "b", "c"]) + ['"' + "x" * 150_000 + '",1,a'])
    assert main(_table_args(tmp_path, csv)) == 2
    _one_line(capsys.readouterr().err, expect)
    assert not (tmp_path / "art").exists()


def test_rows_with_an_empty_group_cell_are_noted(tmp_path, capsys):
    csv = _csv(tmp_path / "d.csv", _rows(["a", "b", ""], n=60))
    assert main(_table_args(tmp_path, csv)) == 0
    out = capsys.readouterr().out
    assert "20 row(s) have an empty group cell ('group'): they belong to no subgroup" in out


# ---- metrics refuse what they cannot measure -----------------------------------------------

@pytest.mark.parametrize("labels, expect", [([0, 1, 2, 1], "labels must be 0 or 1"),
                                            ([0, 1, -1, 1], "labels must be 0 or 1"),
                                            ([0, 1, np.nan, 1], "labels must be 0 or 1")])
def test_metric_entry_points_refuse_labels_that_are_not_binary(labels, expect):
    from taskfair.metrics.fairness import group_rates
    from taskfair.metrics.health import is_degenerate
    from taskfair.metrics.inference import point_set
    pred = np.array([[0, 1, 1, 0]])
    masks = np.array([[True, True, False, False]])
    for call in (lambda: group_rates(pred, labels, masks),
                 lambda: point_set(pred, labels, masks, ["g"], keys=["p"], seed=0, split="test", n_boot=10),
                 lambda: is_degenerate(pred[0], np.asarray(labels))):
        with pytest.raises(ValueError, match=expect):
            call()


def test_a_nan_in_a_membership_mask_is_refused():
    from taskfair.metrics.fairness import group_rates
    with pytest.raises(ValueError, match="membership cannot be NaN"):
        group_rates(np.array([[0, 1, 1, 0]]), [0, 1, 1, 0], np.array([[1.0, np.nan, 0.0, 0.0]]))
    # 0/1 masks are still read as booleans
    assert group_rates(np.array([[0, 1, 1, 0]]), [0, 1, 1, 0], np.array([[1.0, 1.0, 0.0, 0.0]])).n.ravel()[0] == 2


def test_an_undefined_validation_accuracy_is_not_healthy():
    import pandas as pd

    from taskfair.metrics.health import mark_degenerate
    rows = []
    for split in ("val", "test"):
        for metric, value in (("accuracy", np.nan if split == "val" else 0.8), ("positive_share", 0.5),
                              ("majority_rate", 0.6)):
            rows.append({"seed": 13, "family": "fft", "target": "", "lam": 0.0, "split": split,
                         "group": "(all)", "metric": metric, "value": value, "note": ""})
    marked = mark_degenerate(pd.DataFrame(rows))
    flag = marked[marked.metric == "degenerate"]
    assert (flag.value == 1.0).all() and flag.note.str.contains("accuracy on validation is undefined").all()


def test_a_write_that_fails_midway_in_the_cli_is_one_line(pico_store, tmp_path, capsys, monkeypatch):
    """The report's output file on a disk that fills: one line naming the path and the cause."""
    from taskfair.cli import main as cli

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))
    monkeypatch.setattr(Path, "write_text", full)
    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "r.html"
    assert cli(["report", "--artifacts", str(pico_store), "--run", "pico", "--no-counterfactual",
                "--bootstrap", "0", "-o", str(out)]) == 2
    _one_line(capsys.readouterr().err, "no space left on the disk")
