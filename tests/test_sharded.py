"""Task vectors stored as the model is: in its dtype, and as a folder of shards when larger than
one shard; runs written before (one float32 file per vector) still load. Resuming compares
configs field by field."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from taskfair import ArtifactStore, TaskVector, model_weights, tiny_classifier, weights_sha256
from taskfair.store import StoreError, layout
from taskfair.vectors.engine import MergeEngine


def _pair(dtype=torch.float32):
    base, _ = tiny_classifier("bert", seed=0)
    base = base.to(dtype)
    ft = copy.deepcopy(base)
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for p in ft.parameters():
            p.add_((torch.randn(p.shape, generator=g) * 0.01).to(dtype))
    return base, ft


def _run(tmp_path):
    return ArtifactStore(tmp_path).create("r", {"seeds": [13]})


def test_a_large_vector_is_written_in_shards_and_reads_back_whole(tmp_path):
    base, ft = _pair()
    run = _run(tmp_path)
    theta0, weights = model_weights(base), model_weights(ft)
    sha = weights_sha256(theta0)
    names = run.save_vector_between(13, "fft", theta0, weights, base_sha256=sha, base_model="tiny",
                                    shard_bytes=200_000)
    assert len(names) > 2 and all(n.startswith("seed13/tv/fft/") for n in names)
    assert names[0].endswith(f"00001-of-{len(names):05d}.safetensors")
    assert run.task_vector_files(13, "fft") == names and run.has_task_vector(13, "fft")
    run.save_base(13, {"sha256": sha})
    tv = run.task_vector(13, "fft")
    want = TaskVector.from_weights(theta0, weights)
    assert tv.deltas.keys() == want.deltas.keys()
    assert all(torch.equal(tv.deltas[k], want.deltas[k]) for k in want.deltas)
    # the same vector in one file: the merge engine gives the same weights from both
    single = run.save_vector_between(13, "one", theta0, weights, base_sha256=sha, base_model="tiny")
    assert single == ["seed13/tv/one.safetensors"]
    merged = {}
    for v in ("fft", "one"):
        m = copy.deepcopy(base)
        with MergeEngine(m, [run.task_vector_path(13, v)]) as eng:
            eng.set([0.7])
        merged[v] = model_weights(m)
    assert all(torch.equal(merged["fft"][k], merged["one"][k]) for k in merged["one"])
    flat = copy.deepcopy(base)
    MergeEngine(flat, [run.task_vector_path(13, "fft")], base=theta0, reuse=True, mode="flat").set([0.7])
    assert all(torch.allclose(model_weights(flat)[k], merged["one"][k], atol=1e-6) for k in merged["one"])
    # a damaged shard is named
    bad = tmp_path / "r" / names[1]
    raw = bytearray(bad.read_bytes())
    raw[-3] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match=names[1].replace("/", ".")):
        run.task_vector_path(13, "fft")


def test_vectors_keep_the_models_dtype(tmp_path):
    base, ft = _pair(torch.bfloat16)
    run = _run(tmp_path)
    theta0, weights = model_weights(base), model_weights(ft)
    (name,) = run.save_vector_between(13, "g", theta0, weights, base_sha256=weights_sha256(theta0),
                                      base_model="tiny")
    from safetensors import safe_open
    with safe_open(str(tmp_path / "r" / name), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"BF16"}
    # half the bytes of a float32 vector
    (f32,) = run.save_vector_between(13, "h", theta0, weights, base_sha256="x", base_model="tiny",
                                     dtype=torch.float32)
    ratio = (tmp_path / "r" / name).stat().st_size / (tmp_path / "r" / f32).stat().st_size
    assert 0.45 < ratio < 0.55


def test_resume_compares_configs_field_by_field(tmp_path):
    from precompute.profiles import load_profile
    from taskfair.config import StudyConfig
    store = ArtifactStore(tmp_path)
    cfg = load_profile("quick", {"output_root": str(tmp_path)})
    old = cfg.to_dict()
    del old["model_dtype"]  # a run written before the field existed
    store.create("quick", old)
    defaults = StudyConfig().to_dict()
    store.create("quick", cfg.to_dict(), defaults=defaults)  # the default value matches
    moved = load_profile("quick", {"output_root": str(tmp_path) + "/"}).to_dict()
    store.create("quick", moved, defaults=defaults)  # where the run lives is not its identity
    changed = load_profile("quick", {"train.epochs": 2, "model_dtype": "bfloat16"}).to_dict()
    with pytest.raises(StoreError, match=r"model_dtype: stored 'float32', now 'bfloat16'.*train\.epochs.*--force-new"):
        store.create("quick", changed, defaults=defaults)
    # a setting that does not change results: refused with the way out, resumed when asked
    from precompute.pipeline import NEUTRAL_FIELDS
    faster = load_profile("quick", {"eval.batch_size": 128}).to_dict()
    with pytest.raises(StoreError, match=r"do not change results \(eval\.batch_size.*--resume-anyway"):
        store.create("quick", faster, defaults=defaults, neutral=NEUTRAL_FIELDS)
    with pytest.raises(StoreError, match="train.epochs"):  # resume-anyway is no way round a real change
        store.create("quick", changed, defaults=defaults, neutral=NEUTRAL_FIELDS, on_change="resume")
    run = store.create("quick", faster, defaults=defaults, neutral=NEUTRAL_FIELDS, on_change="resume")
    assert run.config["eval"]["batch_size"] == cfg.eval.batch_size  # the stored config is kept
    # --force-new: the old run is set aside whole, the new one starts empty under the name
    run.save_json("note.json", {"x": 1})
    (tmp_path / "quick" / ".lock").write_text("{}")  # held by the caller: stays where it is
    said = []
    new = store.create("quick", changed, defaults=defaults, on_change="new", log=said.append)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("quick.replaced-")]
    assert len(aside) == 1 and said and aside[0].name in said[0]
    assert (aside[0] / "note.json").is_file() and not (aside[0] / ".lock").exists()
    assert store.open(aside[0].name).config["train"]["epochs"] == cfg.train.epochs
    assert new.config["train"]["epochs"] == 2 and not new.manifest["files"]
    assert sorted(store.runs()) == sorted(["quick", aside[0].name])


def test_a_bf16_pipeline_run_with_sharded_vectors(tmp_path, monkeypatch):
    """The pipeline end to end with θ0 in bfloat16 and vectors in shards: every vector is a
    folder of bf16 shards, the grid is evaluated from them, an export reproduces through
    recreate."""
    from conftest import PICO_OVERRIDES
    from precompute.pipeline import run_study
    from precompute.profiles import load_profile
    from taskfair import load_results
    from taskfair.publishing.export import export_configuration
    from taskfair.publishing.provenance import recreate
    monkeypatch.setenv("TASKFAIR_VECTOR_SHARD", "150K")
    cfg = load_profile("quick", {**PICO_OVERRIDES, "name": "bf", "output_root": str(tmp_path),
                                 "model_dtype": "bfloat16", "grids.methods": [],
                                 "dataset.subgroups": ["female", "muslims"], "grids.probes": 2})
    run_study(cfg, progress=False)
    run = ArtifactStore(tmp_path).open("bf")
    for v in ("fft", "lora", "female", "muslims"):
        files = run.task_vector_files(13, v)
        assert len(files) > 1, v
        assert run.task_vector(13, v).norm() > 0
    res = load_results(tmp_path, "bf")
    out = export_configuration(res, "remix:0.5,1.0", tmp_path / "exp", n_boot=0)
    assert out.record["task_vectors"][0]["file"].endswith("/")
    model, _, sha, same = recreate(out.path / "provenance.json", artifact_root=tmp_path)
    assert same, "the export does not reproduce from the sharded run"
    assert next(model.parameters()).dtype == torch.bfloat16


@pytest.mark.parametrize("arch,dtype", [("bert", torch.float32), ("llama", torch.bfloat16)])
def test_theta0_is_read_back_from_the_stored_copy(tmp_path, monkeypatch, arch, dtype):
    """A run that stored θ0 rebuilds it from that copy (positioned reads into a model built
    without weights), not from the checkpoint: the same weights, buffers and margins as
    ``from_pretrained``, checked against θ0's hash; a copy that does not match is refused."""
    from taskfair import load_classifier, predict_margins
    from taskfair.steering import exact
    from taskfair.vectors.streaming import TensorSource

    base, tok = tiny_classifier(arch, seed=0)
    folder = tmp_path / "model"
    base.to(dtype).save_pretrained(folder)
    tok.save_pretrained(folder)
    want, _ = load_classifier(str(folder), dtype=dtype)
    theta0 = model_weights(want)
    run = ArtifactStore(tmp_path / "a").create(
        "r", {"seeds": [13], "model": str(folder), "model_dtype": str(dtype).removeprefix("torch.")})
    run.save_base(13, {"sha256": weights_sha256(theta0), "model": str(folder), "head_seed": 13})
    run.save_theta0(13, theta0, base_sha256=weights_sha256(theta0))

    def no_checkpoint(*a, **k):
        raise AssertionError("θ0 was loaded from the checkpoint, not from the stored copy")
    monkeypatch.setattr(exact, "load_classifier", no_checkpoint)
    got, got_tok = exact.load_theta0(run, 13)
    a, b = want.state_dict(), got.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {n: p.dtype for n, p in got.named_parameters()} == {n: p.dtype for n, p in want.named_parameters()}
    texts = ["a short text", "and another one that is longer than the first"]
    assert (predict_margins(got, got_tok, texts) == predict_margins(want.eval(), tok, texts)).all()
    up, _ = exact.load_theta0(run, 13, dtype=torch.float32)  # converted while reading, hash still checked
    assert all(p.dtype == torch.float32 for p in up.parameters())

    wrong = {k: v + 1 if k == sorted(theta0)[0] else v for k, v in theta0.items()}
    run.save_theta0(13, wrong, base_sha256=weights_sha256(theta0))  # says it is θ0, is not
    with pytest.raises(AssertionError, match="from the checkpoint"):  # not used: rebuilt the usual way
        with pytest.warns(RuntimeWarning, match="stored copy does not match"):
            exact.load_theta0(run, 13)
    monkeypatch.undo()
    with pytest.warns(RuntimeWarning, match="stored copy does not match"):
        rebuilt, _ = exact.load_theta0(run, 13)  # from the checkpoint, checked against θ0's hash
    assert weights_sha256(model_weights(rebuilt)) == weights_sha256(theta0)
    names = TensorSource(run.theta0_path(13)).names()
    assert set(names) == set(theta0)
