"""Merging task vectors into weights: uniform, per-subgroup and injection, on a flat fast path.

Merge methods live in the registry of :mod:`taskfair.methods` (``fn(deltas [K, n], weights [K],
**params) -> [n]``) and are applied **per parameter tensor** (:func:`merge_tensor`), in the same way by every path:
the dict merge here, the flat in-RAM merger, the streamed engine (:mod:`.engine`) and the
streamed writer (:mod:`.streaming`). For task arithmetic that changes nothing; TIES keeps the top
``density`` of each tensor's entries and elects signs per coordinate; DARE draws its random mask
per tensor (seeded by the run seed and the tensor's position). For task arithmetic the flat
merger stacks the vectors as one ``[K, P]`` float32 tensor; a model's parameters become views of
one flat buffer, so a merge is one blocked pass and moving one coefficient is one ``add_``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from ..methods import method_spec
from .taskvector import TaskVector, TaskVectorMismatch, Weights, model_weights

__all__ = [
    "merge_tensor",
    "check_coefficients",
    "ParamLayout",
    "FlatMerger",
    "merge",
    "uniform_merge",
    "inject",
    "load_weights_into",
]


def merge_tensor(method: str, deltas: torch.Tensor, weights: torch.Tensor, index: int, **params) -> torch.Tensor:
    """The merged change of one parameter tensor: ``deltas`` ``[K, n]`` (float32, the K vectors'
    entries for this tensor), ``weights`` ``[K]``, ``index`` the tensor's position in sorted
    parameter-name order. Every merge path calls this, so all of them agree."""
    spec = method_spec(method)
    if spec.seeded:
        params = {**params, "tensor_index": index}
    return spec.fn(deltas, weights, **params)


def check_coefficients(weights: torch.Tensor, k: int) -> None:
    if weights.shape != (k,):
        raise ValueError(f"{k} task vectors need {k} coefficients, got shape {tuple(weights.shape)}")
    if not torch.isfinite(weights).all():
        raise ValueError(f"coefficients must be finite numbers, got {weights.tolist()}")


_BLOCK = 1 << 20   # elements per block of the flat merge (4 MiB of float32)


@dataclass(frozen=True)
class ParamLayout:
    """Where each named parameter sits in a flat vector (sorted name order, like TaskVector.flat)."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    offsets: tuple[int, ...]
    size: int

    @classmethod
    def of(cls, weights: Weights) -> "ParamLayout":
        names = tuple(sorted(weights))
        shapes = tuple(weights[n].shape for n in names)
        offsets, total = [], 0
        for s in shapes:
            offsets.append(total)
            total += math.prod(s)
        return cls(names, shapes, tuple(offsets), total)

    def flatten(self, weights: Weights, *, what: str = "weights") -> torch.Tensor:
        missing = [n for n in self.names if n not in weights]
        extra = [n for n in weights if n not in set(self.names)]
        if missing or extra:
            raise TaskVectorMismatch(f"{what} do not match the model's parameters: missing "
                                     f"{missing[:5]}, unexpected {extra[:5]}")
        out = torch.empty(self.size, dtype=torch.float32)
        for n, s, o in zip(self.names, self.shapes, self.offsets):
            if weights[n].shape != s:
                raise TaskVectorMismatch(f"{what}: '{n}' has shape {tuple(weights[n].shape)}, "
                                         f"the model has {tuple(s)}")
            out[o:o + math.prod(s)] = weights[n].reshape(-1)
        return out

    def spans(self) -> list[tuple[int, int]]:
        """``(offset, numel)`` of each parameter, in name order."""
        return [(o, math.prod(s)) for s, o in zip(self.shapes, self.offsets)]

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named views into ``flat`` (no copies)."""
        return {n: flat[o:o + math.prod(s)].view(s)
                for n, s, o in zip(self.names, self.shapes, self.offsets)}


class FlatMerger:
    """Owns a model whose parameters are views of one flat buffer, and sets it to
    ``θ0 + merge(τ_1..τ_K; λ)`` in place.

    The model passed in is modified (its parameters are re-pointed at the buffer): give it a
    private copy, never a model shared between users.

    Args:
        model: the model to drive; its current weights are θ0 unless ``base`` is given.
        vectors: the K task vectors.
        base: θ0 weights (e.g. the FFT model for injection), defaults to the model's weights.
    """

    def __init__(self, model: torch.nn.Module, vectors: Sequence[TaskVector], *,
                 base: Weights | None = None) -> None:
        if not vectors:
            raise ValueError("FlatMerger needs at least one task vector")
        for v in vectors[1:]:
            vectors[0]._check(v)
        self.model = model
        params = {n: p for n, p in model.named_parameters() if p.is_floating_point()}
        dtypes = {p.dtype for p in params.values()}
        if len(dtypes) != 1:
            raise ValueError(f"the model mixes parameter dtypes {dtypes}; cast it to one dtype first")
        self.layout = ParamLayout.of(params)
        self.base = self.layout.flatten(base if base is not None else model_weights(model),
                                        what="base weights")
        self.deltas = torch.stack([self.layout.flatten(v.deltas, what=f"task vector '{v.name}'")
                                   for v in vectors])
        self.names = tuple(v.name for v in vectors)
        self.buffer = torch.empty(self.layout.size, dtype=dtypes.pop())
        for n, view in self.layout.views(self.buffer).items():
            params[n].data = view
        self.coefficients = torch.zeros(len(vectors), dtype=torch.float32)
        self.buffer.copy_(self.base)

    @property
    def k(self) -> int:
        return self.deltas.shape[0]

    def set(self, coefficients: Sequence[float] | torch.Tensor, *,
            method: str = "task_arithmetic", **params) -> None:
        """Set every coefficient at once: for task arithmetic one blocked pass over the flat
        vectors (every byte read once, the result written once)."""
        c = torch.as_tensor(coefficients, dtype=torch.float32).reshape(-1)
        check_coefficients(c, self.k)
        method_spec(method)
        if method == "task_arithmetic" and not params and self.buffer.dtype == torch.float32:
            # blocked: each block of the result stays in cache while the K vectors stream past it,
            # so every byte is read once and written once (faster than one addmv here)
            coefs = c.tolist()
            for s in range(0, self.layout.size, _BLOCK):
                out = self.buffer[s:s + _BLOCK]
                out.copy_(self.base[s:s + _BLOCK])
                for k, ck in enumerate(coefs):
                    if ck:
                        out.add_(self.deltas[k, s:s + _BLOCK], alpha=ck)
            merged = self.buffer
        elif method == "task_arithmetic" and not params:
            merged = torch.addmv(self.base, self.deltas.T, c)
        else:
            merged = self.buffer
            for i, (o, n) in enumerate(self.layout.spans()):
                self.buffer[o:o + n] = self.base[o:o + n] + merge_tensor(method, self.deltas[:, o:o + n], c, i,
                                                                         **params)
        if merged is not self.buffer:
            self.buffer.copy_(merged)
        self.coefficients = c.clone()
        self._method = method

    def nudge(self, index: int, value: float) -> None:
        """Move one task-arithmetic coefficient to ``value``: one ``add_`` of the change."""
        if getattr(self, "_method", "task_arithmetic") != "task_arithmetic":
            raise ValueError("nudge only applies to task arithmetic; call set() for other methods")
        if not math.isfinite(value):
            raise ValueError(f"coefficient must be finite, got {value}")
        delta = float(value) - float(self.coefficients[index])
        if delta:
            self.buffer.add_(self.deltas[index].to(self.buffer.dtype), alpha=delta)
            self.coefficients[index] = value

    def weights(self) -> dict[str, torch.Tensor]:
        """Named views of the current merged weights (no copy)."""
        return self.layout.views(self.buffer)


def merge(base: Weights, vectors: Sequence[TaskVector], coefficients: Sequence[float], *,
          method: str = "task_arithmetic", **params) -> dict[str, torch.Tensor]:
    """New weights ``θ0 + merge(τ; λ)`` (per-subgroup ``θ0 + Σ λ_i τ_i`` for task arithmetic),
    computed tensor by tensor through :func:`merge_tensor`; in the base's dtypes."""
    if not vectors:
        raise ValueError("merge needs at least one task vector")
    for v in vectors[1:]:
        vectors[0]._check(v)
    method_spec(method)
    c = torch.as_tensor(coefficients, dtype=torch.float32).reshape(-1)
    check_coefficients(c, len(vectors))
    layout = ParamLayout.of(base)
    layout.flatten(vectors[0].deltas, what=f"task vector '{vectors[0].name}'")  # same names and shapes
    out = {}
    for i, (name, shape) in enumerate(zip(layout.names, layout.shapes)):
        rows = torch.stack([v.deltas[name].reshape(-1) for v in vectors])
        merged = base[name].float().reshape(-1) + merge_tensor(method, rows, c, i, **params)
        out[name] = merged.view(shape).to(base[name].dtype)
    return out


def uniform_merge(base: Weights, vectors: Sequence[TaskVector], lam: float, **kwargs) -> dict[str, torch.Tensor]:
    """The paper's Eq. 1 with one λ: ``θ0 + λ Σ_i τ_i``."""
    return merge(base, vectors, [lam] * len(vectors), **kwargs)


def inject(finetuned: Weights, vector: TaskVector, lam: float) -> dict[str, torch.Tensor]:
    """``θ_FFT + λ τ_g``: add one subgroup's vector to a fine-tuned model."""
    if not math.isfinite(lam):
        raise ValueError(f"λ must be finite, got {lam}")
    return vector.apply_to(finetuned, lam)


def load_weights_into(model: torch.nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Copy named weights into ``model``'s parameters (same names and shapes required)."""
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise TaskVectorMismatch(f"the model has no parameter(s) {missing[:5]}")
    with torch.no_grad():
        for n, w in weights.items():
            params[n].copy_(w)

