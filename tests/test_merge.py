import pytest
import torch

from taskfair import (MERGE_METHODS, FlatMerger, TaskVector, inject, merge, model_weights,
                      tiny_classifier, uniform_merge)


@pytest.fixture
def trio():
    base_model, tok = tiny_classifier("bert", seed=0)
    base = {k: v.clone() for k, v in model_weights(base_model).items()}
    vectors = []
    for s in (1, 2, 3):
        m, _ = tiny_classifier("bert", seed=s)
        vectors.append(TaskVector.from_weights(base, model_weights(m), name=f"g{s}"))
    return base_model, tok, base, vectors


def _maxdiff(a, b):
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_one_vector_at_one_gives_the_finetuned_model(trio):
    _, _, base, vectors = trio
    ft = vectors[0].apply_to(base, 1.0)
    assert _maxdiff(merge(base, vectors[:1], [1.0]), ft) < 1e-6
    assert _maxdiff(merge(base, vectors, [0.0, 0.0, 0.0]), base) == 0


def test_per_subgroup_and_uniform_merges_match_the_algebra(trio):
    _, _, base, (a, b, c) = trio
    lams = [0.3, -0.5, 1.2]
    expect = (0.3 * a + (-0.5) * b + 1.2 * c).apply_to(base)
    assert _maxdiff(merge(base, [a, b, c], lams), expect) < 1e-5
    assert _maxdiff(uniform_merge(base, [a, b, c], 0.4), (0.4 * (a + b + c)).apply_to(base)) < 1e-5
    fft = a.apply_to(base)
    assert _maxdiff(inject(fft, b, 0.6), (a + 0.6 * b).apply_to(base)) < 1e-5


def test_flat_merger_matches_dict_merge_and_nudges(trio):
    model, _, base, vectors = trio
    fm = FlatMerger(model, vectors)
    assert _maxdiff(model_weights(model), base) == 0
    fm.set([0.2, 0.5, 0.9])
    assert _maxdiff(model_weights(model), merge(base, vectors, [0.2, 0.5, 0.9])) < 1e-5
    fm.nudge(1, -0.3)
    fm.nudge(2, 0.0)
    assert _maxdiff(model_weights(model), merge(base, vectors, [0.2, -0.3, 0.0])) < 1e-5
    assert fm.coefficients.tolist() == pytest.approx([0.2, -0.3, 0.0])
    # parameters really are views of the single buffer
    p = next(model.parameters())
    assert p.untyped_storage().data_ptr() == fm.buffer.untyped_storage().data_ptr()
    with pytest.raises(ValueError, match="3 coefficients"):
        fm.set([1.0])
    with pytest.raises(ValueError, match="finite"):
        fm.set([1.0, float("nan"), 0.0])


def test_flat_merger_injection_base(trio):
    model, _, base, (a, b, c) = trio
    fft = a.apply_to(base)
    fm = FlatMerger(model, [c], base=fft)
    fm.set([0.7])
    assert _maxdiff(model_weights(model), inject(fft, c, 0.7)) < 1e-5


def test_registry_methods(trio):
    _, _, base, vectors = trio
    assert {"task_arithmetic", "ties", "dare"} <= set(MERGE_METHODS)
    ta = merge(base, vectors, [0.5, 0.5, 0.5])
    # TIES keeping everything, with one vector, is plain scaling
    one = merge(base, vectors[:1], [0.5], method="ties", density=1.0)
    assert _maxdiff(one, merge(base, vectors[:1], [0.5])) < 1e-6
    # DARE with no drop is task arithmetic; with drops it is seeded and unbiased-ish
    assert _maxdiff(merge(base, vectors, [0.5] * 3, method="dare", drop_rate=0.0), ta) < 1e-6
    d1 = merge(base, vectors, [0.5] * 3, method="dare", drop_rate=0.5, seed=3)
    d2 = merge(base, vectors, [0.5] * 3, method="dare", drop_rate=0.5, seed=3)
    assert _maxdiff(d1, d2) == 0 and _maxdiff(d1, ta) > 0
    t = merge(base, vectors, [1.0] * 3, method="ties", density=0.2)
    delta = torch.cat([(t[k] - base[k]).reshape(-1) for k in sorted(base)])
    assert 0.1 < (delta != 0).float().mean() < 0.6
    with pytest.raises(ValueError, match="unknown merge method"):
        merge(base, vectors, [1, 1, 1], method="magic")
    with pytest.raises(ValueError, match="density"):
        merge(base, vectors, [1, 1, 1], method="ties", density=0.0)


def test_ties_elects_sign():
    deltas = torch.tensor([[1.0, -2.0, 3.0], [-3.0, -1.0, 1.0]])
    out = MERGE_METHODS["ties"](deltas, torch.ones(2), density=1.0)
    # coord0: sum -2 -> keep -3; coord1: both negative -> mean -1.5; coord2: mean 2
    assert out.tolist() == pytest.approx([-3.0, -1.5, 2.0])
