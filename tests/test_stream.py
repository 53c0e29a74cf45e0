import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from taskfair import TaskVector, merge, save_task_vector
from taskfair.store import StoreError
from taskfair.vectors.streaming import TensorSource, stream_merge
from taskfair.vectors.taskvector import TaskVectorMismatch


@pytest.fixture
def sharded(tmp_path):
    g = torch.Generator().manual_seed(0)
    base = {f"layer.{i}.w": torch.randn(64, 32, generator=g) for i in range(6)}
    base["layer.0.b"] = torch.randn(32, generator=g)
    folder = tmp_path / "base"
    folder.mkdir()
    names = sorted(base)
    save_file({k: base[k] for k in names[:4]}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({k: base[k] for k in names[4:]}, str(folder / "model-00002-of-00002.safetensors"))
    vecs = [TaskVector({k: torch.randn(v.shape, generator=g) * 0.1 for k, v in base.items()}, name=f"v{i}")
            for i in range(3)]
    paths = [save_task_vector(tmp_path / f"v{i}.safetensors", v) for i, v in enumerate(vecs)]
    return base, folder, vecs, paths


def test_stream_merge_equals_in_memory_merge_and_shards(sharded, tmp_path):
    base, folder, vecs, paths = sharded
    out = stream_merge(folder, paths, [0.5, -0.2, 1.0], tmp_path / "out", shard_bytes=20_000)
    index = json.loads((out / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert len(files) > 1 and all((out / f).is_file() for f in files)
    got = {}
    for f in files:
        got.update(load_file(str(out / f)))
    ref = merge(base, vecs, [0.5, -0.2, 1.0])
    assert set(got) == set(ref)
    assert max(float((got[k] - ref[k]).abs().max()) for k in ref) < 1e-5
    assert TensorSource(out).names() and sorted(TensorSource(out).names()) == sorted(ref)


def test_stream_merge_refuses_overwrite_and_mismatch(sharded, tmp_path):
    base, folder, vecs, paths = sharded
    (tmp_path / "exists").mkdir()
    with pytest.raises(StoreError, match="already exists"):
        stream_merge(folder, paths, [1, 1, 1], tmp_path / "exists")
    other = TaskVector({"layer.0.w": torch.zeros(64, 32)}, name="partial")
    bad = save_task_vector(tmp_path / "bad.safetensors", other)
    with pytest.raises(TaskVectorMismatch, match="missing"):
        stream_merge(folder, [bad], [1.0], tmp_path / "o2")
    assert not (tmp_path / "o2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o2")]


def test_stream_merge_other_methods(sharded, tmp_path):
    base, folder, vecs, paths = sharded
    out = stream_merge(folder, paths, [1, 1, 1], tmp_path / "dare", method="dare", drop_rate=0.0)
    got = {}
    for f in out.glob("*.safetensors"):
        got.update(load_file(str(f)))
    ref = merge(base, vecs, [1, 1, 1])
    assert max(float((got[k] - ref[k]).abs().max()) for k in ref) < 1e-5


def test_truncated_or_corrupt_source_is_refused_before_work(sharded, tmp_path):
    base, folder, vecs, paths = sharded
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) - 100])
    with pytest.raises(StoreError, match="truncated"):
        stream_merge(folder, paths, [1, 1, 1], tmp_path / "out")
    paths[1].write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(StoreError, match="corrupt"):
        stream_merge(folder, paths, [1, 1, 1], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_stream_merge_keeps_dtypes_and_copies_integer_tensors(tmp_path):
    base = {"w": torch.randn(8, 4).to(torch.bfloat16), "ids": torch.arange(5)}
    save_file(base, str(tmp_path / "base.safetensors"))
    vec = TaskVector({"w": torch.ones(8, 4)}, name="v")
    p = save_task_vector(tmp_path / "v.safetensors", vec)
    out = stream_merge(tmp_path / "base.safetensors", [p], [0.5], tmp_path / "out")
    got = load_file(str(out / "model.safetensors"))
    assert got["w"].dtype == torch.bfloat16 and torch.equal(got["ids"], base["ids"])
    assert torch.equal(got["w"], (base["w"].float() + 0.5).to(torch.bfloat16))
