"""The merge methods taskfair ships. Adding one is a decorated function here (or anywhere that
is imported before it is used) plus its test: see ARCHITECTURE.md."""
from __future__ import annotations

import torch

from .registry import Param, register_merge_method

__all__ = ["task_arithmetic", "ties", "dare", "linear"]


@register_merge_method("task_arithmetic", label="task arithmetic")
def task_arithmetic(deltas: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_i λ_i τ_i`` (Ilharco et al. 2023)."""
    return weights @ deltas


@register_merge_method("ties", label="TIES",
                       params=(Param("density", 0.0, 1.0, lo_open=True, help="the share of each vector's entries kept"),))
def ties(deltas: torch.Tensor, weights: torch.Tensor, *, density: float = 0.2) -> torch.Tensor:
    """TIES (Yadav et al. 2023): keep each vector's top-``density`` entries by magnitude, elect a
    sign per coordinate by the weighted sum, and average the weighted entries that agree with it."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"ties density must be in (0, 1], got {density}")
    used = weights != 0
    if not bool(used.all()):  # a vector at weight 0 adds nothing and votes nowhere: skip its trim
        if not bool(used.any()):
            return torch.zeros(deltas.shape[1], dtype=deltas.dtype)
        deltas, weights = deltas[used], weights[used]
    scaled = deltas * weights[:, None]
    if density < 1.0:
        keep = max(1, int(round(density * deltas.shape[1])))
        # k-th largest magnitude per row as the threshold (ties at the threshold are kept)
        thresh = deltas.abs().kthvalue(deltas.shape[1] - keep + 1, dim=1, keepdim=True).values
        scaled = torch.where(deltas.abs() >= thresh, scaled, torch.zeros_like(scaled))
    sign = torch.sign(scaled.sum(dim=0))
    agree = (torch.sign(scaled) == sign) & (scaled != 0)
    count = agree.sum(dim=0).clamp(min=1)
    return (scaled * agree).sum(dim=0) / count


@register_merge_method("dare", label="DARE", seeded=True,
                       params=(Param("drop_rate", 0.0, 1.0, hi_open=True, help="the probability of dropping an entry"),))
def dare(deltas: torch.Tensor, weights: torch.Tensor, *, drop_rate: float = 0.5,
         seed: int = 0, tensor_index: int = 0) -> torch.Tensor:
    """DARE (Yu et al. 2024): drop each delta entry with probability ``drop_rate``, rescale the
    survivors by ``1 / (1 − drop_rate)``, then add with the coefficients. Seeded by ``seed`` and
    the tensor's position, so repeatable and independent between tensors."""
    if not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"dare drop_rate must be in [0, 1), got {drop_rate}")
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(tensor_index))
    keep = torch.rand(deltas.shape, generator=gen) >= drop_rate
    return weights @ (deltas * keep / (1.0 - drop_rate))


@register_merge_method("linear", label="linear mean")
def linear(deltas: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The mean of the fine-tuned models, moved along by λ: ``Σ_i λ_i τ_i / n`` over the ``n``
    vectors with a non-zero coefficient (at one λ for all, ``θ0 + λ · mean_i τ_i``: a model soup
    of ``θ0 + λ τ_i``, where task addition would sum them)."""
    n = int((weights != 0).sum())
    return (weights @ deltas) / max(n, 1)
