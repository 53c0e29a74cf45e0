"""The merge engine: streamed and flat merges equal each other and the dict merge for task
arithmetic, TIES and DARE; vectors at zero are never read; bad input fails clearly; the
precompute gives the same artifacts whichever path the memory budget picks."""
import copy

import pytest
import torch

from taskfair import TaskVector, merge, model_weights, save_task_vector, tiny_classifier
from taskfair.vectors.engine import MergeEngine, memory_budget, parse_bytes
from taskfair.vectors.taskvector import TaskVectorMismatch

K = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model, _ = tiny_classifier("bert", seed=0)
    theta0 = {k: v.clone() for k, v in model_weights(model).items()}
    gen = torch.Generator().manual_seed(1)
    vectors = [TaskVector({k: torch.randn(v.shape, generator=gen) * 0.01 for k, v in theta0.items()},
                          name=f"g{i}") for i in range(K)]
    folder = tmp_path_factory.mktemp("tv")
    paths = [save_task_vector(folder / f"g{i}.safetensors", v) for i, v in enumerate(vectors)]
    return model, theta0, vectors, paths


def _weights(m):
    return {k: v.detach().clone() for k, v in model_weights(m).items()}


CASES = [([0.3, -0.2, 0.7], "task_arithmetic", {}),
         ([0.5, 0.5, 0.5], "ties", {"density": 0.3}),
         ([0.4, 0.9, 0.1], "dare", {"drop_rate": 0.5, "seed": 13})]


@pytest.mark.parametrize("lams, method, params", CASES)
def test_stream_flat_and_dict_merges_agree(setup, lams, method, params):
    model, theta0, vectors, paths = setup
    streamed = copy.deepcopy(model)
    with MergeEngine(streamed, paths, mode="stream") as e:
        e.set(lams, method=method, **params)
    flat = copy.deepcopy(model)
    MergeEngine(flat, vectors, mode="flat").set(lams, method=method, **params)
    by_dict = merge(theta0, vectors, lams, method=method, **params)
    a, b = _weights(streamed), _weights(flat)
    for k in a:
        assert torch.equal(a[k], b[k]), k              # bitwise: the same operations in the same order
        assert torch.allclose(a[k], by_dict[k], atol=1e-6), k
    assert any(not torch.equal(a[k], theta0[k]) for k in a)  # it did merge


def test_dare_draws_its_own_mask_for_each_tensor():
    from taskfair.vectors.merge import merge_tensor
    rows, w = torch.ones(2, 1000), torch.tensor([1.0, 1.0])
    first = merge_tensor("dare", rows, w, 0, drop_rate=0.5, seed=13)
    assert torch.equal(first, merge_tensor("dare", rows, w, 0, drop_rate=0.5, seed=13))   # repeatable
    assert not torch.equal(first, merge_tensor("dare", rows, w, 1, drop_rate=0.5, seed=13))
    assert not torch.equal(first, merge_tensor("dare", rows, w, 0, drop_rate=0.5, seed=14))


def test_repeated_sets_need_the_base_and_follow_it(setup):
    model, theta0, vectors, paths = setup
    m = copy.deepcopy(model)
    engine = MergeEngine(m, paths, base=theta0, reuse=True, mode="stream")
    engine.set([1.0, 0.0, 0.0])
    engine.set([0.0, 0.0, 0.0])
    assert all(torch.equal(v, theta0[k]) for k, v in _weights(m).items())   # back at θ0, no drift
    one_shot = MergeEngine(copy.deepcopy(model), paths, mode="stream")
    one_shot.set([0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="pass base="):
        one_shot.set([0.2, 0.2, 0.2])


def test_a_vector_at_zero_is_never_read(setup, tmp_path):
    model, _, vectors, _ = setup
    paths = [save_task_vector(tmp_path / f"v{i}.safetensors", v) for i, v in enumerate(vectors)]
    engine = MergeEngine(copy.deepcopy(model), paths, mode="stream")
    paths[1].unlink()                       # its header was read; its tensors never will be
    engine.set([0.5, 0.0, 0.25])


def test_auto_mode_follows_the_budget_and_the_use(setup):
    model, theta0, _, paths = setup
    assert MergeEngine(copy.deepcopy(model), paths, base=theta0, reuse=True, budget=1 << 40).mode == "flat"
    assert MergeEngine(copy.deepcopy(model), paths, base=theta0, reuse=True, budget=1).mode == "stream"
    assert MergeEngine(copy.deepcopy(model), paths, budget=1 << 40).mode == "stream"   # one-shot


def test_bad_input_is_refused_clearly(setup, tmp_path):
    model, theta0, vectors, paths = setup
    engine = MergeEngine(copy.deepcopy(model), paths, mode="stream")
    with pytest.raises(ValueError, match="3 task vectors need 3 coefficients"):
        engine.set([0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        engine.set([0.1, float("nan"), 0.2])
    with pytest.raises(ValueError, match="unknown merge method"):
        engine.set([0.1, 0.1, 0.1], method="magic")
    other, _ = tiny_classifier("bert", seed=0, hidden_size=48)
    with pytest.raises(TaskVectorMismatch, match="has shape"):
        MergeEngine(other, paths, mode="stream")
    partial = TaskVector({k: v for k, v in list(vectors[0].deltas.items())[1:]}, name="partial")
    bad = save_task_vector(tmp_path / "partial.safetensors", partial)
    with pytest.raises(TaskVectorMismatch, match="missing"):
        MergeEngine(copy.deepcopy(model), [bad], mode="stream")
    with pytest.raises(ValueError, match="at least one"):
        MergeEngine(copy.deepcopy(model), [])


def test_memory_budget_from_the_environment(monkeypatch):
    assert parse_bytes("8G") == 8 * 2**30 and parse_bytes("512M") == 512 * 2**20 and parse_bytes("1000") == 1000
    assert parse_bytes("1.5GiB") == int(1.5 * 2**30)
    monkeypatch.setenv("TASKFAIR_MEMORY_BUDGET", "2G")
    assert memory_budget() == 2 * 2**30
    for bad in ("lots", "-1G", "0", "nanG"):
        monkeypatch.setenv("TASKFAIR_MEMORY_BUDGET", bad)
        with pytest.raises(ValueError, match="TASKFAIR_MEMORY_BUDGET"):
            memory_budget()
    monkeypatch.delenv("TASKFAIR_MEMORY_BUDGET")
    assert memory_budget() > 0


def test_the_pipeline_stores_the_same_margins_when_it_must_stream(pico_store, tmp_path, monkeypatch):
    """A budget too small for the flat path makes the precompute stream every λ point from the
    vector files: the stored predictions are the same files."""
    from precompute import load_profile, run_study
    from taskfair import ArtifactStore
    from conftest import PICO_OVERRIDES

    monkeypatch.setenv("TASKFAIR_MEMORY_BUDGET", "1")
    cfg = load_profile("quick", {**PICO_OVERRIDES, "name": "pico", "output_root": str(tmp_path)})
    run_study(cfg, progress=False)
    a = ArtifactStore(pico_store).open("pico").manifest["files"]
    b = ArtifactStore(tmp_path).open("pico").manifest["files"]
    preds = [n for n in a if "/preds/" in n]
    assert preds and {n: a[n]["sha256"] for n in preds} == {n: b[n]["sha256"] for n in preds}
    # streaming, the grid read θ0 from a stored copy (taken from the run's θ0) instead of holding one
    run = ArtifactStore(tmp_path).open("pico")
    assert "seed13/theta0.safetensors" in b and run.theta0_path(13) is not None
    assert "seed13/theta0.safetensors" not in a


def test_large_tensors_are_merged_a_slice_at_a_time(setup, tmp_path, monkeypatch):
    """The streamed task-arithmetic merge works through slices of at most ``CHUNK`` elements
    (θ0 read from a stored file, vectors in bf16 and float32): the same weights as whole tensors,
    for slices that cut rows anywhere."""
    from taskfair.store.files import write_safetensors_streamed
    from taskfair.vectors import engine as engine_module
    from taskfair.vectors.streaming import TensorSource
    model, theta0, vectors, paths = setup
    from taskfair.store.files import TV_FORMAT
    half = tmp_path / "bf.safetensors"  # a vector stored in bf16, as a bf16 model's are
    write_safetensors_streamed(half, {n: (t.shape, torch.bfloat16) for n, t in vectors[0].deltas.items()},
                               lambda n: vectors[0].deltas[n].to(torch.bfloat16),
                               {"format": TV_FORMAT, "base_sha256": "", "base_model": "", "name": "g0"})
    stored = tmp_path / "theta0.safetensors"
    write_safetensors_streamed(stored, {n: (t.shape, t.dtype) for n, t in theta0.items()}, theta0.__getitem__)
    lams = [0.3, -0.2, 0.7]
    whole = copy.deepcopy(model)
    MergeEngine(whole, [half, *paths[1:]], base=theta0, reuse=True, mode="stream").set(lams)
    for chunk in (97, 1000):  # neither divides a row: slices end inside rows
        monkeypatch.setattr(engine_module, "CHUNK", chunk)
        sliced = copy.deepcopy(model)
        MergeEngine(sliced, [half, *paths[1:]], base=TensorSource(stored), reuse=True, mode="stream").set(lams)
        a, b = _weights(whole), _weights(sliced)
        assert all(torch.equal(a[k], b[k]) for k in a), chunk
    assert any(not torch.equal(v, theta0[k]) for k, v in a.items())
