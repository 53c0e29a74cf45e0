"""Tamper suite: a byte flipped, the file cut in half, or the file deleted, for every kind of file
a run stores and every file an export is checked by. Each case is detected, and the message names
the file; nothing is reported as intact."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from taskfair import ArtifactStore, load_results
from taskfair.store import StoreError

FAULTS = ("flip", "truncate", "delete")


def damage(path: Path, fault: str) -> None:
    if fault == "delete":
        path.unlink()
        return
    data = bytearray(path.read_bytes())
    if fault == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _kind(name: str) -> str:
    """A file's kind: its place in the layout with seeds, subgroups and λ taken out, and its type."""
    parts = name.split("/")
    folder = "/".join(re.sub(r"\d+", "N", p) for p in parts[:-1][:2])
    return f"{folder}/*.{parts[-1].rsplit('.', 1)[-1]}"


def _one_of_each_kind(pico_store) -> list[str]:
    files = json.loads((Path(pico_store) / "pico" / "manifest.json").read_text())["files"]
    kinds: dict[str, str] = {}
    for name in sorted(files):
        kinds.setdefault(_kind(name), name)
    return sorted(kinds.values())


def test_every_kind_of_stored_file_is_covered(pico_store):
    kinds = {_kind(n) for n in _one_of_each_kind(pico_store)}
    # the data and its report, θ0's record and the splits, task vectors, margins, metrics tables
    assert {"data/*.parquet", "data/*.json", "seedN/*.json", "seedN/tv/*.safetensors",
            "seedN/preds/*.safetensors", "/*.parquet", "/*.json"} <= kinds, kinds


@pytest.mark.parametrize("fault", FAULTS)
def test_a_damaged_run_file_is_named_by_every_reader(pico_store, tmp_path, fault):
    for name in _one_of_each_kind(pico_store):
        root = tmp_path / f"{fault}-{_kind(name).replace('/', '_').replace('*', 'x')}"
        shutil.copytree(Path(pico_store) / "pico", root / "pico")
        damage(root / "pico" / name, fault)
        with pytest.raises(StoreError) as err:
            ArtifactStore(root).open("pico")
        assert name in str(err.value), (name, fault, str(err.value))
        with pytest.raises(StoreError, match=re.escape(name)):
            load_results(root, "pico")  # what the dashboard, report, diff and search open
        run = ArtifactStore(root).open("pico", verify=False)
        jobs = [j for j, e in run.manifest["jobs"].items() if name in e["files"]]
        assert jobs and not any(run.is_done(j) for j in jobs), (name, jobs)  # a rerun redoes them


@pytest.mark.parametrize("content, expect", [
    ("{not json", "not valid JSON"),
    ("\udcff", "not valid JSON"),
    ("[1, 2]", "not a taskfair manifest"),
    ('{"format": "taskfair.run/1"}', "not a taskfair manifest"),
])
def test_a_damaged_manifest_is_one_line_with_the_fix(pico_store, tmp_path, content, expect):
    shutil.copytree(Path(pico_store) / "pico", tmp_path / "pico")
    manifest = tmp_path / "pico" / "manifest.json"
    if content == "\udcff":
        manifest.write_bytes(b"\xff\xfe{" + manifest.read_bytes())
    else:
        manifest.write_text(content)
    with pytest.raises(StoreError) as err:
        ArtifactStore(tmp_path).open("pico")
    msg = str(err.value)
    assert expect in msg and "\n" not in msg and "rerun" in msg, msg


def test_every_file_of_an_export_is_checked(pico_store, tmp_path):
    from taskfair.publishing.export import export_configuration
    from taskfair.publishing.provenance import ProvenanceError, check_export_files, read_record
    res = load_results(pico_store, "pico")
    out = export_configuration(res, "remix:0.3,0.8,0.55", tmp_path / "exp", n_boot=0)
    record = read_record(out.path)
    listed = sorted(record["files"])
    assert "config.json" in listed and any(f.endswith(".safetensors") for f in listed)
    assert any(f.startswith("tokenizer") or f == "vocab.txt" for f in listed)
    assert not check_export_files(out.path, record)
    for name in listed + ["provenance.json"]:
        for fault in FAULTS:
            copy = tmp_path / f"{name}-{fault}"
            shutil.copytree(out.path, copy)
            damage(copy / name, fault)
            if name == "provenance.json":
                with pytest.raises(ProvenanceError, match="provenance.json"):
                    read_record(copy)
                continue
            problems = check_export_files(copy, read_record(copy))
            assert len(problems) == 1 and problems[0].startswith(f"{name}:"), (name, fault, problems)
