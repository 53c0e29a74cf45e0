"""Running a classifier over texts: margins ``logit_1 − logit_0`` in length-sorted batches."""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch

__all__ = ["pad_batch", "predict_margins", "best_device"]


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


@torch.inference_mode()
def predict_margins(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 64,
    precision: Literal["fp32", "bf16"] = "fp32",
    device: torch.device | str | None = None,
    progress: bool = False,
    description: str = "predict",
) -> np.ndarray:
    """Margins ``[N]`` (float32): positive means the model predicts label 1.

    Texts are sorted by length so each batch pads little, and the results are put back in order.
    The model is moved to ``device`` (default: the device its parameters are on).
    """
    from tqdm.auto import tqdm

    if len(texts) == 0:
        return np.zeros(0, dtype=np.float32)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    if next(model.parameters()).device != device:
        model.to(device)
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.empty(len(texts), dtype=np.float32)
    use_bf16 = precision == "bf16"
    for s in tqdm(range(0, len(order), batch_size), desc=description, unit="batch",
                  disable=not progress, dynamic_ncols=True):
        idx = order[s:s + batch_size]
        batch = {k: v.to(device) for k, v in pad_batch([ids[i] for i in idx], tokenizer.pad_token_id).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(**batch).logits.float()
        if logits.shape[-1] != 2:
            raise ValueError(f"expected a 2-label classifier, got {logits.shape[-1]} logits")
        out[idx] = (logits[:, 1] - logits[:, 0]).cpu().numpy()
    return out
