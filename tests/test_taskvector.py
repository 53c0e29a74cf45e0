import math

import pytest
import torch

from taskfair import (TaskVector, TaskVectorMismatch, cosine_matrix, model_weights,
                      tiny_classifier, weights_sha256)
from taskfair.store import StoreError, load_task_vector, save_task_vector


def _weights(seed, shapes=(("a.layer.0.w", (3, 4)), ("a.layer.1.w", (4,)), ("head.b", (2,)))):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) for k, s in shapes}


@pytest.fixture
def space():
    base = _weights(0)
    ft1, ft2 = _weights(1), _weights(2)
    return base, TaskVector.from_weights(base, ft1, name="one"), TaskVector.from_weights(base, ft2, name="two"), ft1


def _close(a, b, tol=1e-6):
    return all(torch.allclose(a[k], b[k], atol=tol) for k in a)


def test_properties(space):
    base, t1, t2, ft1 = space
    zero = t1 + (-t1)
    assert all(torch.count_nonzero(v) == 0 for v in zero.deltas.values())
    assert _close(t1.apply_to(base, 0.0), base, 0)
    assert _close(t1.apply_to(base, 1.0), ft1)
    assert _close((t1 - t2).deltas, (t1 + (-1.0) * t2).deltas)
    assert _close((2 * t1).deltas, (t1 + t1).deltas)
    assert _close(sum([t1, t2]).deltas, (t1 + t2).deltas)
    assert (t1 * 0.5).norm() == pytest.approx(0.5 * t1.norm())


def test_operations_never_mutate(space):
    base, t1, t2, _ = space
    before = {k: v.clone() for k, v in t1.deltas.items()}
    base_before = {k: v.clone() for k, v in base.items()}
    _ = t1 + t2, -t1, t1 * 3, t1.apply_to(base, 2.0)
    assert _close(t1.deltas, before, 0) and _close(base, base_before, 0)


def test_geometry(space):
    base, t1, t2, _ = space
    assert t1.cosine(t1) == pytest.approx(1.0)
    assert t1.cosine(-t1) == pytest.approx(-1.0)
    flat1, flat2 = t1.flat().double(), t2.flat().double()
    expect = float(flat1 @ flat2 / (flat1.norm() * flat2.norm()))
    assert t1.cosine(t2) == pytest.approx(expect)
    cm = cosine_matrix([t1, t2, t1 * 2])
    assert cm.shape == (3, 3) and cm[0, 2] == pytest.approx(1.0) and cm[0, 1] == pytest.approx(expect)
    layers = t1.layer_norms()
    assert set(layers) == {"a.layer.0", "a.layer.1", "head"}
    assert math.sqrt(sum(v ** 2 for v in layers.values())) == pytest.approx(t1.norm())


def test_mismatches_raise_clearly(space):
    base, t1, _, _ = space
    other_keys = TaskVector.from_weights(_weights(0, (("x", (2,)),)), _weights(1, (("x", (2,)),)))
    with pytest.raises(TaskVectorMismatch, match="different"):
        t1 + other_keys
    other_shape = {**base, "head.b": torch.zeros(3)}
    with pytest.raises(TaskVectorMismatch, match="shape mismatch.*head.b"):
        t1.apply_to(other_shape)
    other_base = TaskVector.from_weights(_weights(5), _weights(6), name="alien")
    with pytest.raises(TaskVectorMismatch, match="different bases"):
        t1 + other_base
    with pytest.raises(TypeError):
        t1 * t1
    with pytest.raises(ValueError, match="finite"):
        t1 * float("nan")
    with pytest.raises(TypeError, match="floating-point"):
        TaskVector({"x": torch.tensor([1, 2])})


def test_models_roundtrip_and_save_load(tmp_path):
    base_model, _ = tiny_classifier("bert", seed=0)
    ft_model, _ = tiny_classifier("bert", seed=1)
    base = model_weights(base_model)
    tv = TaskVector.from_models(base_model, ft_model, base_model="tiny-bert", name="women")
    assert tv.base_sha256 == weights_sha256(base)
    assert "bert.embeddings.position_ids" not in tv.deltas  # integer buffers are not coordinates
    path = save_task_vector(tmp_path / "women.safetensors", tv)
    back = load_task_vector(path, expected_base_sha256=weights_sha256(base))
    assert back.name == "women" and back.base_model == "tiny-bert"
    assert _close(back.deltas, tv.deltas, 0)
    assert _close(back.apply_to(base), model_weights(ft_model))
    with pytest.raises(TaskVectorMismatch, match="expected base"):
        load_task_vector(path, expected_base_sha256="0" * 64)


def test_truncated_or_foreign_file(tmp_path, space):
    _, t1, _, _ = space
    path = save_task_vector(tmp_path / "v.safetensors", t1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="truncated or corrupt"):
        load_task_vector(path)
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(StoreError, match="not a taskfair task vector"):
        load_task_vector(tmp_path / "plain.safetensors")
