"""Running a classifier over its inputs: margins ``logit_1 − logit_0`` in length-sorted batches.

Inputs are texts with a tokenizer, or image paths with an image processor; :func:`encode_inputs`
hides the difference from inference and training."""
from __future__ import annotations

import warnings
from typing import Literal, Sequence

import numpy as np
import torch

__all__ = ["pad_batch", "predict_margins", "best_device", "same_device", "native_bf16", "encode_inputs", "is_image_processor",
           "compiled_for_inference"]


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX (x86) or the bf16 extension (ARM). Elsewhere bf16 is emulated and
    much slower than float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return True
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next((line for line in f if line.startswith(("flags", "Features"))), "").split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def same_device(a: torch.device | str, b: torch.device | str) -> bool:
    """Whether two device names mean the same device: ``cpu`` and ``cpu:0`` (what a gloo process
    group hands out) are one device; ``cuda`` means the current CUDA device."""
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.type == "cpu":
        return True
    current = torch.cuda.current_device() if a.type == "cuda" and torch.cuda.is_available() else 0
    return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)


def best_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token id lists to the longest in the batch (dynamic padding)."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, :len(x)] = torch.as_tensor(x, dtype=torch.long)
        mask[i, :len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def is_image_processor(processor) -> bool:
    """True for an image processor (its model takes ``pixel_values``), False for a tokenizer."""
    return "pixel_values" in (getattr(processor, "model_input_names", None) or ())


class _TextInputs:
    """Texts tokenized once; batches are padded to their longest text."""

    def __init__(self, tokenizer, texts: Sequence[str], max_length: int):
        self.ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        self.lengths = [len(x) for x in self.ids]
        self.pad_id = tokenizer.pad_token_id

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, idx) -> dict[str, torch.Tensor]:
        return pad_batch([self.ids[i] for i in idx], self.pad_id)


class _ImageInputs:
    """Image paths, decoded and preprocessed batch by batch (a whole set would not fit in memory)."""

    def __init__(self, processor, paths: Sequence[str]):
        self.processor, self.paths = processor, list(paths)
        self.lengths = [1] * len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def batch(self, idx) -> dict[str, torch.Tensor]:
        from ..data.images import open_image

        images = [open_image(self.paths[i]) for i in idx]
        return {"pixel_values": self.processor(images=images, return_tensors="pt")["pixel_values"]}


def encode_inputs(processor, items: Sequence[str], *, max_length: int = 64):
    """Inputs ready for batching: ``.lengths`` (for length-sorted batches) and ``.batch(idx)``
    (the model's keyword arguments for those rows). Pass the result to :func:`predict_margins`
    in place of the texts to tokenize them once for many evaluations (a λ grid)."""
    if is_image_processor(processor):
        return _ImageInputs(processor, items)
    return _TextInputs(processor, items, max_length)


@torch.inference_mode()
def predict_margins(
    model: torch.nn.Module,
    tokenizer,
    texts,
    *,
    batch_size: int = 64,
    max_length: int = 64,
    precision: Literal["fp32", "bf16"] = "fp32",
    device: torch.device | str | None = None,
    progress: bool = False,
    description: str = "predict",
) -> np.ndarray:
    """Margins ``[N]`` (float32): positive means the model predicts label 1. ``tokenizer`` is
    the model's tokenizer, or its image processor when ``texts`` are image paths; ``texts`` may
    also be what :func:`encode_inputs` returned for them (tokenized once, reused).

    Texts are sorted by length so each batch pads little, and the results are put back in order.
    The model is moved to ``device`` (default: the device its parameters are on).
    """
    from tqdm.auto import tqdm

    if len(texts) == 0:
        return np.zeros(0, dtype=np.float32)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    if not same_device(next(model.parameters()).device, device):
        # (never for an equal device under another name: moving would copy the weights out of a
        # merger's buffer, and later merges would no longer reach the model)
        model.to(device)
    inputs = texts if hasattr(texts, "batch") else encode_inputs(tokenizer, texts, max_length=max_length)
    order = np.argsort(inputs.lengths, kind="stable")
    out = np.empty(len(inputs.lengths), dtype=np.float32)
    use_bf16 = precision == "bf16" and native_bf16(device)
    if precision == "bf16" and not use_bf16:
        warnings.warn(f"bf16 evaluation was asked for, but {device} has no native bfloat16 (on a CPU: "
                      "AVX512-BF16 or AMX); evaluating in fp32, which is several times faster there",
                      RuntimeWarning, stacklevel=2)
    for s in tqdm(range(0, len(order), batch_size), desc=description, unit="batch",
                  disable=not progress, dynamic_ncols=True):
        idx = order[s:s + batch_size]
        batch = {k: v.to(device) for k, v in inputs.batch(idx).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(**batch).logits.float()
        if logits.shape[-1] != 2:
            raise ValueError(f"expected a 2-label classifier, got {logits.shape[-1]} logits")
        out[idx] = (logits[:, 1] - logits[:, 0]).cpu().numpy()
    return out


def compiled_for_inference(model: torch.nn.Module, tokenizer, sample, *, max_length: int = 64,
                           device: torch.device | str | None = None) -> torch.nn.Module:
    """``model`` compiled by ``torch.compile`` (dynamic shapes: batches of any size and length)
    for a long run of evaluations of the same architecture, such as a λ grid. The compiled module
    shares the model's parameters, so merges written into them in place are seen by it.

    Compiling takes tens of seconds once. Measured on MiniLM with 2 CPU cores: at most 1.1× faster
    a point, and no gain on a model whose weights are views of one flat buffer (the merge
    engine's in-RAM path). Where it cannot compile (no C compiler, an unsupported
    operation) it warns and returns ``model`` unchanged: results are the same either way, up to
    float rounding. ``sample`` (a few inputs) is run once here so a failure shows up now."""
    sample = list(sample)
    if not sample:
        return model
    try:
        compiled = torch.compile(model, dynamic=True)
        predict_margins(compiled, tokenizer, sample, batch_size=len(sample), max_length=max_length,
                        device=device)
        return compiled
    except Exception as exc:  # noqa: BLE001 - any compiler failure means: evaluate uncompiled
        warnings.warn(f"torch.compile is not available here ({type(exc).__name__}: {str(exc)[:200]}); "
                      "evaluating uncompiled (same results, slower)", RuntimeWarning, stacklevel=2)
        return model
