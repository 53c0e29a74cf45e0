"""Inputs that used to pass ``--validate`` and crash after training (or give a traceback) are
refused up front with one line that says what and how to fix it, exit status 2, nothing written."""
from __future__ import annotations

import pytest

from precompute.__main__ import main


def _csv(path, rows, header="text,label,group"):
    path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows))
    return path


def _table_args(tmp_path, csv, *extra):
    return ["--validate", "--set", "model=tiny-bert", "--set", "dataset.name=table", "--set", f"dataset.path={csv}",
            "--set", "dataset.group_column=group", "--set", "dataset.subgroups=null",
            "--set", f"output_root={tmp_path / 'art'}", *extra]


def _rows(groups, n=40):
    return [f"comment number {i} about things,{i % 2},{groups[i % len(groups)]}" for i in range(n)]


@pytest.mark.parametrize("case, expect", [
    ("zero_bytes", "0 bytes"),
    ("header_only", "no data rows"),
    ("label_group", "column taskfair stores"),
    ("spaced_group", "cannot name an artifact"),
    ("one_group", "there is no rest"),
    ("wrong_separator", "dataset.group_separator"),
])
def test_bad_tables_fail_before_anything_is_written(tmp_path, capsys, case, expect):
    csv = tmp_path / "data.csv"
    if case == "zero_bytes":
        csv.write_bytes(b"")
    elif case == "header_only":
        _csv(csv, [])
    elif case == "label_group":
        _csv(csv, _rows(["label", "b"]))
    elif case == "spaced_group":
        _csv(csv, _rows(["black women", "b"]))
    elif case == "one_group":
        _csv(csv, _rows(["a"]))
    elif case == "wrong_separator":
        _csv(csv, _rows(["a;b", "a", "b"]))
    assert main(_table_args(tmp_path, csv)) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "art").exists()


def test_an_empty_yaml_file_is_refused(tmp_path, capsys):
    cfg = tmp_path / "empty.yaml"
    cfg.write_text("")
    assert main(["--validate", "--config", str(cfg)]) == 2
    assert "is empty" in capsys.readouterr().err


def test_a_model_spec_that_does_not_resolve_offline(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["--validate", "--set", "model=minlm"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'minilm'" in err and "Traceback" not in err


def test_set_without_equals_exits_2(capsys):
    assert main(["--validate", "--set", "train.epochs"]) == 2
    assert "--set expects key=value" in capsys.readouterr().err


def test_a_second_precompute_of_a_running_run_is_refused(tmp_path, capsys):
    """A lock held by a live process (this one) refuses a second precompute before any work; a
    lock left by a process that is gone is taken over."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from conftest import PICO_OVERRIDES
    from taskfair.store import run_lock
    folder = tmp_path / "art" / "pico"
    folder.mkdir(parents=True)
    (folder / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                              "started": "2026-01-01T00:00:00+00:00"}))
    argv = ["--no-progress", "--set", "name=pico", "--set", f"output_root={tmp_path / 'art'}"]
    for k, v in PICO_OVERRIDES.items():
        argv += ["--set", f"{k}={json.dumps(v) if isinstance(v, list) else v}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"being computed by process {os.getpid()}" in err and "wait for it to finish" in err
    assert not (folder / "manifest.json").exists()

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (folder / ".lock").write_text(json.dumps({"pid": int(gone), "host": socket.gethostname()}))
    said = []
    with run_lock(folder, log=said.append) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert said and "is gone" in said[0] and not (folder / ".lock").exists()


def test_cli_options_that_are_wrong_are_named(pico_store, tmp_path, capsys):
    from taskfair.cli import main as cli
    assert cli(["report", "--artifacts", str(pico_store), "--run", "pico", "--bootstrap", "-1"]) == 2
    assert "argument --bootstrap: -1 is out of range; give one from 0 to 100000" in capsys.readouterr().err
    # one strict reader for every number: no negative counts or seeds, no 0_3, no nan
    for argv, said in [(["vectors", "--seed", "-1"], "argument --seed: -1 is out of range"),
                       (["diff", "fft", "lora", "--show", "-1"], "argument --show: -1 is out of range"),
                       (["search", "--confirm", "-1"], "argument --confirm: -1 is out of range"),
                       (["search", "--samples", "1_000"], "'1_000' is not a whole number (no '_' between digits)"),
                       (["search", "--max-dpd", "nan"], "'nan' is not a finite number"),
                       (["layerwise", "--step", "inf"], "'inf' is not a finite number")]:
        assert cli([argv[0], "--artifacts", str(pico_store), "--run", "pico", *argv[1:]]) == 2, argv
        assert said in capsys.readouterr().err, argv
    assert cli(["vectors", "--artifacts", str(pico_store), "--run", "pico", "--seed", "99"]) == 2
    assert "--seed 99 is not a seed of run 'pico' (its seeds: 13)" in capsys.readouterr().err
    afile = tmp_path / "f.txt"
    afile.write_text("x")
    assert cli(["images", str(afile)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_two_real_precomputes_of_one_run_end_with_one_run_and_one_message(pico_store, tmp_path):
    """Two processes start the same run: the one that holds the lock finishes it, the other exits
    2 at once naming the first; the finished run verifies and no lock is left."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    from conftest import PICO_OVERRIDES
    from taskfair import ArtifactStore
    from taskfair.store import layout
    shutil.copytree(pico_store / "pico", tmp_path / "pico")
    manifest = tmp_path / "pico" / "manifest.json"
    m = json.loads(manifest.read_text())
    redo = [j for j in m["jobs"] if j.startswith("seed13/eval/") or j == layout.METRICS_JOB]
    redo.append(layout.train_job(13, "black"))
    for j in redo:  # the first process has a fine-tune, the λ grid and the metrics to redo
        del m["jobs"][j]
    manifest.write_text(json.dumps(m))
    argv = [sys.executable, "-m", "precompute", "--no-progress", "--set", "name=pico",
            "--set", f"output_root={tmp_path}"]
    for k, v in PICO_OVERRIDES.items():
        argv += ["--set", f"{k}={json.dumps(v) if isinstance(v, list) else v}"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "HF_HUB_OFFLINE": "1"}
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "pico" / layout.LOCK
    deadline = time.monotonic() + 120
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.exists(), first.communicate()
    t0 = time.monotonic()
    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    t1 = time.monotonic()
    out, err = first.communicate(timeout=600)
    print(f"second refused after {t1 - t0:.1f} s; the first finished {time.monotonic() - t0:.1f} s after its lock")
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"being computed by process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    assert "== summary ==" in out and "== summary ==" not in second.stdout
    run = ArtifactStore(tmp_path).open("pico")  # verifies every file
    assert all(run.is_done(j) for j in redo) and not lock.exists()


@pytest.mark.parametrize("policy, rows, kept", [("keep", 154, "all kept"), ("first", 151, "resolved"),
                                                ("drop", 149, "resolved")])
def test_texts_with_both_labels_are_reported_and_resolved_as_chosen(tmp_path, capsys, policy, rows, kept):
    """Two texts appear with both labels (one of them up to case and spacing): the validation
    report says so, and dataset.conflicting_duplicates keeps them, keeps the first row's label,
    or drops them."""
    from taskfair.config import DatasetConfig
    from taskfair.data import load_dataset
    base = _rows(["a", "b", "c"], n=150)
    extra = ["comment number 0 about things,1,a", "COMMENT  number 0 about things,1,b",   # row 0 has label 0
             "comment number 1 about things,0,b", "comment number 3 about things,1,c"]    # 3 agrees: untouched
    csv = _csv(tmp_path / "d.csv", base + extra)
    data = load_dataset(DatasetConfig(name="table", path=str(csv), group_column="group",
                                      conflicting_duplicates=policy))
    assert len(data) == rows, data.report()
    assert f"2 text(s) appear with both labels" in data.report() and kept in data.report()
    keys = {}
    for t, y in zip(data.texts, data.labels):
        keys.setdefault(" ".join(t.lower().split()), set()).add(int(y))
    conflicting = [k for k, v in keys.items() if len(v) > 1]
    assert len(conflicting) == (2 if policy == "keep" else 0)
    if policy == "first":
        assert keys["comment number 0 about things"] == {0} and keys["comment number 1 about things"] == {1}
    assert main(_table_args(tmp_path, csv, "--set", f"dataset.conflicting_duplicates={policy}")) == 0
    assert "appear with both labels" in capsys.readouterr().out


def test_non_utf8_bytes_in_a_table_are_noted(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    csv.write_bytes(("text,label,group\n" + "".join(f"{r}\n" for r in _rows(["a", "b", "c"], n=150))).encode()
                    .replace(b"number 5 ", b"n\xfcmber 5 ").replace(b"number 7 ", b"n\xe9mber 7 "))
    assert main(_table_args(tmp_path, csv)) == 0
    out = capsys.readouterr().out
    assert "2 byte sequence(s) that are not UTF-8 (first on line 7)" in out and "rows kept" in out
