"""Pico end-to-end: fine-tune a tiny model on real RedditBias rows of two groups, build task
vectors, merge, measure."""
import copy

import numpy as np

from taskfair import (FlatMerger, TaskVector, TrainConfig, fairness_table, finetune, inject,
                      load_weights_into, merge, model_weights, predict_margins, tiny_classifier,
                      uniform_merge, worst_subgroup)


def test_pico_end_to_end(small_real):
    train, test = small_real.train, small_real.test
    assert set(train.groups) == {"female", "muslims"}
    base_model, tok = tiny_classifier("bert", seed=13)
    base = {k: v.clone() for k, v in model_weights(base_model).items()}
    cfg = TrainConfig(epochs=2, learning_rate=2e-3, batch_size=16, max_length=48, seed=13)

    fft = copy.deepcopy(base_model)
    losses = finetune(fft, tok, train.texts, train.labels, cfg, progress=False)
    assert len(losses) == int(np.ceil(len(train) / 16)) * 2
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    tv_fft = TaskVector.from_weights(base, model_weights(fft), name="fft")

    vectors = []
    for g in train.groups:
        m = copy.deepcopy(base_model)
        part = train.group(g)
        finetune(m, tok, part.texts, part.labels, cfg, progress=False)
        vectors.append(TaskVector.from_weights(base, model_weights(m), name=g))
    assert all(v.base_sha256 == tv_fft.base_sha256 for v in vectors)

    # uniform sweep through the flat fast path, checked against the dict merge at one point
    model = copy.deepcopy(base_model)
    merger = FlatMerger(model, vectors)
    lams = np.round(np.linspace(0, 1, 6), 2)
    preds = []
    for lam in lams:
        merger.set([lam] * len(vectors))
        preds.append(predict_margins(model, tok, test.texts, max_length=48) > 0)
    check = copy.deepcopy(base_model)
    load_weights_into(check, uniform_merge(base, vectors, 0.6))
    exact = predict_margins(check, tok, test.texts, max_length=48)
    merger.set([0.6, 0.6])
    np.testing.assert_allclose(predict_margins(model, tok, test.texts, max_length=48), exact, atol=1e-4)

    # λ = 0 is the base model
    np.testing.assert_array_equal(preds[0], predict_margins(base_model, tok, test.texts, max_length=48) > 0)

    # injection of each group's vector into FFT
    fft_w = model_weights(fft)
    load_weights_into(check, inject(fft_w, vectors[1], 0.4))
    inj = predict_margins(check, tok, test.texts, max_length=48)
    load_weights_into(check, merge(base, [tv_fft, vectors[1]], [1.0, 0.4]))
    np.testing.assert_allclose(predict_margins(check, tok, test.texts, max_length=48), inj, atol=1e-4)

    fft_pred = predict_margins(fft, tok, test.texts, max_length=48) > 0
    table = fairness_table(np.vstack([fft_pred[None], np.stack(preds)]), test.labels, test.masks,
                           test.groups, points={"method": ["fft"] + ["uniform"] * len(lams),
                                                "lam": [np.nan, *lams]})
    acc = table[(table.group == "(all)") & (table.metric == "accuracy")]
    assert len(acc) == 1 + len(lams) and acc.value.between(0, 1).all()
    assert worst_subgroup(table[table.method == "fft"]) in train.groups
    dpd = table[table.metric == "dpd"].value
    assert dpd.notna().all() and dpd.between(0, 1).all()
