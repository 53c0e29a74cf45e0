"""Layer-wise coefficients: tensors to blocks, the configuration string, the exact merge (equal
blocks are the plain remix; a zero block leaves θ0 there), export and recreation with the blocks in
provenance, and the budgeted search on validation."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from taskfair import load_results
from taskfair.steering.configurations import VariantSpecError, parse_variant
from taskfair.steering.margins import config_margins
from taskfair.vectors.blocks import assign_blocks, block_names

BERT = ["bert.embeddings.word_embeddings.weight", "bert.embeddings.LayerNorm.weight",
        "bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.1.output.dense.weight",
        "bert.encoder.layer.2.output.dense.weight", "bert.encoder.layer.3.output.dense.weight",
        "bert.pooler.dense.weight", "classifier.weight"]
LLAMA = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.5.mlp.up_proj.weight",
         "model.norm.weight", "score.weight"]


def test_tensors_fall_into_embeddings_layer_blocks_and_head():
    got, blocks = assign_blocks(BERT)
    assert blocks == ("embeddings", "lower", "upper", "head")
    assert [got[n] for n in BERT] == ["embeddings", "embeddings", "lower", "lower", "upper", "upper", "head", "head"]
    got, blocks = assign_blocks(LLAMA)
    assert [got[n] for n in LLAMA] == ["embeddings", "lower", "upper", "head", "head"]
    got, blocks = assign_blocks(BERT, (1, 3))
    assert blocks == ("embeddings", "layers 0-0", "layers 1-2", "layers 3-3", "head")
    assert got["bert.encoder.layer.2.output.dense.weight"] == "layers 1-2"
    with pytest.raises(ValueError, match="increasing layer indices between 1 and 3"):
        assign_blocks(BERT, (3, 1))
    assert block_names(0) == block_names(1) == ("embeddings", "lower", "upper", "head")
    got, _ = assign_blocks(["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.attn.c_attn.weight",
                            "transformer.ln_f.weight", "score.weight"])
    assert got["transformer.wte.weight"] == got["transformer.wpe.weight"] == "embeddings"  # GPT-2's names
    assert got["transformer.h.0.attn.c_attn.weight"] == "upper"  # one layer: the lower half is empty
    assert got["transformer.ln_f.weight"] == got["score.weight"] == "head"
    with pytest.raises(ValueError, match="one stack of numbered layers"):
        assign_blocks(["model.encoder.layers.0.fc1.weight", "model.decoder.layers.0.fc1.weight"])


def test_the_configuration_string_names_a_grid_and_refuses_bad_ones():
    groups = ("female", "muslims", "black")
    c = parse_variant("layerwise:1/1/0.5/0,0/0/0/0,-0.5/0/0/0.25", groups)
    assert c.grid[2] == (-0.5, 0.0, 0.0, 0.25) and c.spec == "layerwise:1/1/0.5/0,0/0/0/0,-0.5/0/0/0.25"
    assert parse_variant("layerwise[1,3]:" + ",".join(["0/1/1/1/0"] * 3), groups).bounds == (1, 3)
    for bad, why in (("layerwise:1/1/1/1,0/0/0/0", "one λ/λ/… per subgroup"),
                     ("layerwise:1/1/1,0/0/0/0,1/1/1/1", "needs 4 λ"),
                     ("layerwise[x]:1/1/1/1/1", "whole numbers"),
                     ("layerwise:1/1/1/abc,0/0/0/0,1/1/1/1", "not a number")):
        with pytest.raises(VariantSpecError, match=why):
            parse_variant(bad, groups)


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


def test_equal_blocks_are_the_remix_and_a_zero_block_keeps_theta0_there(res):
    from taskfair.steering.exact import build_model, load_theta0, merged_model, model_margins
    from taskfair.steering.configurations import recipe
    seed = next(iter(res.seeds))
    run = res.open_run()
    base = load_theta0(run, seed)
    lams = (0.3, -0.5, 0.8)
    flat = model_margins(run, seed, merged_model(run, seed, lams, base), base[1])["test"]
    spec = "layerwise:" + ",".join("/".join([f"{v:g}"] * 4) for v in lams)
    same, est = config_margins(res, spec, seed, "test", base=base)
    assert not est and np.allclose(same, flat, atol=1e-5)
    # only the head moves: every other tensor is θ0's, the head is θ0 + Σ λ τ
    head_only = parse_variant("layerwise:" + ",".join(f"0/0/0/{v:g}" for v in lams), res.groups)
    model = build_model(run, seed, recipe(head_only, res.groups, res.config, seed), base)
    theta0 = dict(base[0].named_parameters())
    vectors = [run.task_vector(seed, g) for g in res.groups]
    from taskfair.vectors.blocks import assign_blocks
    block_of, _ = assign_blocks([n for n, _ in model.named_parameters()])
    for name, p in model.named_parameters():
        want = theta0[name].detach().clone()
        if block_of[name] == "head":
            for lam, tv in zip(lams, vectors):
                want += lam * tv.deltas[name].to(want.dtype)
        assert torch.allclose(p.detach(), want, atol=1e-6), name
    assert not np.allclose(config_margins(res, head_only.spec, seed, "test", base=base)[0], flat)


def test_a_layerwise_export_records_its_blocks_and_recreates_to_the_hash(res, tmp_path):
    from taskfair.publishing.export import export_configuration
    from taskfair.publishing.provenance import read_record, recreate
    spec = "layerwise:0/0.5/1/1,0/0/0.5/0.5,1/1/0/0"
    from taskfair.publishing.export import default_export_name
    long = "layerwise:" + ",".join(["-0.125/0.25/-0.375/1"] * 3)
    name = default_export_name("pico", 13, long)
    assert len(name) <= 100 and "m0.125" in name and name != default_export_name("pico", 13, long.replace("1,", "0.5,"))
    done = export_configuration(res, spec, tmp_path / "lw", n_boot=0, counterfactual=False)
    record = read_record(done.path)
    assert record["layerwise"]["blocks"] == ["embeddings", "lower", "upper", "head"]
    assert record["layerwise"]["coefficients"][res.groups[2]] == [1.0, 1.0, 0.0, 0.0]
    assert "Layer-wise" in (done.path / "README.md").read_text()
    _, _, sha, ok = recreate(record)
    assert ok and sha == record["merged_weights_sha256"]
    # the blocks are part of the recipe: the same mean coefficients without them rebuild other weights
    plain = {k: v for k, v in record.items() if k != "layerwise"}
    assert not recreate(plain)[3]


def test_the_per_tensor_merge_is_refused_where_it_cannot_run():
    from taskfair.models import tiny_classifier
    from taskfair.vectors import MergeEngine, TaskVector
    model, _ = tiny_classifier("bert", seed=0)
    other, _ = tiny_classifier("bert", seed=1)
    tv = TaskVector.from_weights(dict(model.named_parameters()), dict(other.named_parameters()))
    name = next(n for n, _ in model.named_parameters())
    with MergeEngine(model, [tv], mode="flat") as engine, pytest.raises(ValueError, match="streaming engine"):
        engine.set([1.0], per_tensor={name: [0.5]})


def test_the_search_spends_its_budget_on_validation_and_reports_test_beside_it(res, pico_store, capsys):
    from taskfair.steering.layerwise import layerwise_search
    seen = []
    found = layerwise_search(res, budget=4, progress=lambda f, t: seen.append(f))
    h = found.history
    assert len(h) == 4 and h.accepted.iloc[0] and h.spec.iloc[0] == found.start
    assert h.objective.max() == h.loc[h.spec == found.best, "objective"].iloc[0]
    assert list(found.report.which) == ["start", "best on validation"]
    assert {"val accuracy", "test accuracy", "test worst_dpd"} <= set(found.report.columns)
    assert seen and seen[-1] == pytest.approx(1.0) and all(0 <= f <= 1 for f in seen)
    with pytest.raises(ValueError, match="budget"):
        layerwise_search(res, budget=0)
    # a start with its own split of the layers is searched in those blocks
    split = layerwise_search(res, start="layerwise[1]:" + ",".join(["0.5/0.5/0.5/0.5"] * len(res.groups)), budget=1)
    assert split.best.startswith("layerwise[1]:")
    from taskfair.__main__ import main
    assert main(["layerwise", "--run", "pico", "--artifacts", str(pico_store),
                 "--config", "layerwise:0/0/1/1,0/0/1/1,0/0/1/1"]) == 0
    assert "blocks of this model: embeddings, lower, upper, head" in capsys.readouterr().out
    assert main(["layerwise", "--run", "pico", "--artifacts", str(pico_store), "--config", "layerwise:1/1"]) == 2
