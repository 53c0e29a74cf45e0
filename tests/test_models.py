import pytest
import torch

from taskfair import ModelError, load_classifier, predict_margins, resolve_model, tiny_classifier


def test_embedded_minilm_loads_offline_as_a_2_label_classifier():
    model, tok = load_classifier("minilm", head_seed=13)
    n = sum(p.numel() for p in model.parameters())
    assert 22_000_000 < n < 23_500_000
    assert model.config.num_labels == 2 and type(model).__name__ == "BertForSequenceClassification"
    again, _ = load_classifier("minilm", head_seed=13)
    other, _ = load_classifier("minilm", head_seed=14)
    assert torch.equal(model.classifier.weight, again.classifier.weight)
    assert not torch.equal(model.classifier.weight, other.classifier.weight)
    # the backbone is the pretrained one, so a real sentence gets a finite, deterministic margin
    m = predict_margins(model, tok, ["women are great", "a longer sentence about nothing at all"])
    assert m.shape == (2,) and torch.isfinite(torch.as_tensor(m)).all()


def test_resolve_specs(tmp_path):
    assert resolve_model("minilm").kind == "embedded"
    src = resolve_model("smollm2")
    assert src.gguf_file.endswith(".gguf") and src.kind == "embedded"
    assert resolve_model("distilbert-base-uncased").kind == "hub"
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model("./no/such/folder")


def test_folder_without_tokenizer_is_explained(tmp_path):
    model, _ = tiny_classifier("bert")
    model.save_pretrained(tmp_path / "m")
    with pytest.raises(ModelError, match="tokenizer"):
        load_classifier(str(tmp_path / "m"))


def test_local_folder_roundtrip(tmp_path):
    model, tok = tiny_classifier("bert", seed=3)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    back, tok2 = load_classifier(str(tmp_path / "m"))
    texts = ["one text", "another, longer, text here"]
    assert predict_margins(back, tok2, texts) == pytest.approx(predict_margins(model, tok, texts), abs=1e-6)


def test_tiny_decoder_has_pad_token_and_batches():
    model, tok = tiny_classifier("llama", seed=0)
    assert tok.pad_token is not None and model.config.pad_token_id == tok.pad_token_id
    texts = ["short", "a much longer text that needs padding in a batch"]
    batched = predict_margins(model, tok, texts, batch_size=2)
    single = [predict_margins(model, tok, [t], batch_size=1)[0] for t in texts]
    assert batched == pytest.approx(single, abs=1e-5)


def test_hub_spec_offline_is_explained(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="Offline"):
        load_classifier("someone/not-cached-model-xyz")


@pytest.mark.slow  # dequantising the Q4 checkpoint takes ~40 s on 2 cores: make test-all
def test_embedded_smollm2_gguf_loads_as_llama_classifier_and_saves_as_a_plain_hf_folder(tmp_path):
    """One load of the GGUF checkpoint (≈30 s here) serves both checks."""
    from transformers import AutoModelForSequenceClassification
    model, tok = load_classifier("smollm2", head_seed=0)
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert 130_000_000 < sum(p.numel() for p in model.parameters()) < 140_000_000
    assert tok.pad_token is not None and model.config.pad_token_id is not None
    m = predict_margins(model, tok, ["hello there", "a second, longer example text"], batch_size=2)
    assert m.shape == (2,)
    # the dequantized weights are plain tensors: the model casts, and saves as a standard folder
    assert not model.is_quantized and model.float() is model
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    back = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(back).__name__ == "LlamaForSequenceClassification"
    texts = ["hello there", "a second text"]
    assert predict_margins(back, tok, texts) == pytest.approx(predict_margins(model, tok, texts), abs=1e-5)


def test_bf16_evaluation_falls_back_to_fp32_where_bf16_is_emulated(monkeypatch):
    """On a CPU without native bfloat16 (no AVX512-BF16/AMX), bf16 is emulated and many times
    slower: evaluation says so and runs in fp32, giving exactly the fp32 margins."""
    import warnings

    from taskfair.models import inference
    model, tok = tiny_classifier("bert", seed=0)
    texts = ["women should stay quiet", "a neutral sentence", "muslims are my neighbours"]
    fp32 = predict_margins(model, tok, texts)
    monkeypatch.setattr(inference, "native_bf16", lambda device: False)
    with pytest.warns(RuntimeWarning, match="no native bfloat16"):
        fallback = predict_margins(model, tok, texts, precision="bf16")
    assert (fallback == fp32).all()
    monkeypatch.setattr(inference, "native_bf16", lambda device: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        native = predict_margins(model, tok, texts, precision="bf16")
    assert not (native == fp32).all() and abs(native - fp32).max() < 0.1
