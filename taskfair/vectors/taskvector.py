"""Task vectors ``τ = θ_finetuned − θ_base`` that behave like numbers.

A :class:`TaskVector` holds one float32 delta per parameter name and the sha256 of the base
weights it was taken from, so vectors from different bases never mix silently.
"""
from __future__ import annotations

import hashlib
import math
import re
from typing import Mapping, Sequence

import torch

__all__ = [
    "TaskVector",
    "TaskVectorMismatch",
    "model_weights",
    "weights_sha256",
    "cosine_matrix",
]

Weights = Mapping[str, torch.Tensor]


class TaskVectorMismatch(ValueError):
    """Two operands do not live in the same parameter space (keys, shapes or base differ)."""


def model_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable floating-point weights of ``model`` by name (shared tensors appear once).

    These are the coordinates task vectors live in; integer buffers such as position ids are not.
    """
    return {n: p.detach() for n, p in model.named_parameters() if p.is_floating_point()}


class WeightsHasher:
    """:func:`weights_sha256` fed one tensor at a time, in sorted name order."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._last: str | None = None

    def update(self, name: str, tensor: torch.Tensor) -> None:
        t = tensor.detach().contiguous().cpu()
        self.begin(name, tuple(t.shape), t.dtype)
        self.feed(t)

    def begin(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> None:
        """Start tensor ``name``; its bytes follow through :meth:`feed`, in order."""
        if self._last is not None and name <= self._last:
            raise ValueError(f"weights must be hashed in sorted name order ({name!r} after {self._last!r})")
        self._last = name
        self._h.update(f"{name}|{tuple(shape)}|{dtype}\n".encode())

    def feed(self, part: torch.Tensor) -> None:
        if part.numel():
            self._h.update(memoryview(part.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy()))

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def weights_sha256(weights: Weights) -> str:
    """A content hash of named weights: names, shapes, dtypes and bytes, in sorted name order."""
    h = WeightsHasher()
    for name in sorted(weights):
        h.update(name, weights[name])
    return h.hexdigest()


def _check_same_space(a: Weights, b: Weights, what_a: str, what_b: str) -> None:
    ka, kb = set(a), set(b)
    if ka != kb:
        only_a, only_b = sorted(ka - kb), sorted(kb - ka)
        raise TaskVectorMismatch(
            f"{what_a} and {what_b} have different parameters: only in {what_a}: {only_a[:5]}"
            f"{' …' if len(only_a) > 5 else ''}; only in {what_b}: {only_b[:5]}"
            f"{' …' if len(only_b) > 5 else ''}. Were they made from the same base model?")
    bad = [(k, tuple(a[k].shape), tuple(b[k].shape)) for k in a if a[k].shape != b[k].shape]
    if bad:
        k, sa, sb = bad[0]
        raise TaskVectorMismatch(f"shape mismatch for {len(bad)} parameter(s), e.g. '{k}': "
                                 f"{what_a} {sa} vs {what_b} {sb}. Same architecture and base?")


class TaskVector:
    """``τ = θ_ft − θ_0`` as named float32 deltas.

    Supports ``+``, ``-``, unary ``-``, scalar ``*`` and ``sum([...])``; never mutates its operands.

    Args:
        deltas: parameter name -> delta tensor.
        base_sha256: :func:`weights_sha256` of the base the deltas were taken from, or None when
            unknown (then any base is accepted).
        base_model: a human-readable name for the base (e.g. the model spec).
        name: what this vector encodes (e.g. the subgroup).
    """

    __slots__ = ("deltas", "base_sha256", "base_model", "name")

    def __init__(self, deltas: Weights, *, base_sha256: str | None = None,
                 base_model: str = "", name: str = "") -> None:
        bad = [k for k, v in deltas.items() if not torch.is_tensor(v) or not v.is_floating_point()]
        if bad:
            raise TypeError(f"task vector entries must be floating-point tensors; not so for {bad[:5]}")
        self.deltas = {k: v.detach().to(torch.float32) for k, v in deltas.items()}
        self.base_sha256 = base_sha256
        self.base_model = base_model
        self.name = name

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_weights(cls, base: Weights, finetuned: Weights, *, base_sha256: str | None = None,
                     base_model: str = "", name: str = "") -> "TaskVector":
        """The difference ``finetuned − base`` of two weight mappings over the same parameters."""
        _check_same_space(base, finetuned, "base", "fine-tuned")
        odd = [(k, base[k].dtype, finetuned[k].dtype) for k in base if base[k].dtype != finetuned[k].dtype]
        if odd:
            k, a, b = odd[0]
            raise TaskVectorMismatch(
                f"dtype mismatch for {len(odd)} parameter(s), e.g. '{k}': base {a} vs fine-tuned {b}. "
                "A task vector is only meaningful between the same weights in the same precision: load "
                "both models with the same dtype (e.g. dtype=torch.float32) before taking the difference.")
        deltas = {k: finetuned[k].detach().float() - base[k].detach().float() for k in base}
        return cls(deltas, base_sha256=base_sha256 or weights_sha256(base),
                   base_model=base_model, name=name)

    @classmethod
    def from_models(cls, base: torch.nn.Module, finetuned: torch.nn.Module, **kwargs) -> "TaskVector":
        return cls.from_weights(model_weights(base), model_weights(finetuned), **kwargs)

    # ------------------------------------------------------------------ arithmetic
    def _check(self, other: "TaskVector") -> None:
        if not isinstance(other, TaskVector):
            raise TypeError(f"expected a TaskVector, got {type(other).__name__}")
        if self.base_sha256 and other.base_sha256 and self.base_sha256 != other.base_sha256:
            raise TaskVectorMismatch(
                f"task vectors from different bases: '{self.name or 'left'}' has base "
                f"{self.base_sha256[:12]}… ({self.base_model or '?'}), '{other.name or 'right'}' has "
                f"{other.base_sha256[:12]}… ({other.base_model or '?'}). Only vectors fine-tuned from "
                "the same base weights can be combined.")
        _check_same_space(self.deltas, other.deltas, f"'{self.name or 'left'}'",
                          f"'{other.name or 'right'}'")

    def _new(self, deltas: dict[str, torch.Tensor], other: "TaskVector | None" = None,
             name: str = "") -> "TaskVector":
        base = self.base_sha256 or (other.base_sha256 if other is not None else None)
        out = TaskVector.__new__(TaskVector)
        out.deltas, out.base_sha256, out.base_model, out.name = deltas, base, self.base_model, name
        return out

    def __add__(self, other: "TaskVector | int") -> "TaskVector":
        if isinstance(other, (int, float)) and other == 0:  # lets sum() start from 0
            return self
        self._check(other)
        return self._new({k: v + other.deltas[k] for k, v in self.deltas.items()}, other,
                         f"({self.name} + {other.name})")

    __radd__ = __add__

    def __sub__(self, other: "TaskVector") -> "TaskVector":
        self._check(other)
        return self._new({k: v - other.deltas[k] for k, v in self.deltas.items()}, other,
                         f"({self.name} - {other.name})")

    def __neg__(self) -> "TaskVector":
        return self._new({k: -v for k, v in self.deltas.items()}, name=f"-{self.name}")

    def __mul__(self, scale: float) -> "TaskVector":
        if not isinstance(scale, (int, float)) or isinstance(scale, bool):
            raise TypeError(f"a task vector can be scaled by a number, not {type(scale).__name__}")
        if not math.isfinite(scale):
            raise ValueError(f"scale must be finite, got {scale}")
        return self._new({k: v * scale for k, v in self.deltas.items()}, name=f"{scale}*{self.name}")

    __rmul__ = __mul__

    # ------------------------------------------------------------------ geometry
    def flat(self) -> torch.Tensor:
        """All deltas as one float32 vector, in sorted name order."""
        return torch.cat([self.deltas[k].reshape(-1) for k in sorted(self.deltas)])

    def norm(self) -> float:
        return float(torch.sqrt(sum((v.double() ** 2).sum() for v in self.deltas.values())))

    def layer_norms(self) -> dict[str, float]:
        """L2 norm per layer: transformer blocks by their index, other weights by module prefix."""
        sq: dict[str, float] = {}
        for k, v in self.deltas.items():
            layer = _layer_of(k)
            sq[layer] = sq.get(layer, 0.0) + float((v.double() ** 2).sum())
        return {k: math.sqrt(v) for k, v in sq.items()}

    def cosine(self, other: "TaskVector") -> float:
        self._check(other)
        dot = sum(float((v.double() * other.deltas[k].double()).sum()) for k, v in self.deltas.items())
        denom = self.norm() * other.norm()
        return dot / denom if denom > 0 else float("nan")

    # ------------------------------------------------------------------ application
    def apply_to(self, base: Weights, scale: float = 1.0) -> dict[str, torch.Tensor]:
        """New weights ``base + scale · τ`` (in the base's dtypes); ``base`` is not modified."""
        _check_same_space(self.deltas, base, f"task vector '{self.name}'", "the weights given")
        return {k: (base[k].float() + scale * v).to(base[k].dtype) for k, v in self.deltas.items()}

    def __len__(self) -> int:
        return sum(v.numel() for v in self.deltas.values())

    def __repr__(self) -> str:
        base = (self.base_sha256 or "?")[:12]
        return (f"TaskVector(name={self.name!r}, tensors={len(self.deltas)}, params={len(self)}, "
                f"base={base}, norm={self.norm():.4g})")


_LAYER_RE = re.compile(r"^(.*?\.(?:layer|layers|h|blocks|block)\.\d+)\.")


def _layer_of(name: str) -> str:
    m = _LAYER_RE.match(name)
    if m:
        return m.group(1)
    parts = name.split(".")
    return ".".join(parts[:-1][:2]) or parts[0]


def cosine_matrix(vectors: Sequence[TaskVector]) -> torch.Tensor:
    """Pairwise cosine similarities ``[K, K]`` (float64)."""
    for v in vectors[1:]:
        vectors[0]._check(v)
    K = len(vectors)
    gram = torch.zeros(K, K, dtype=torch.float64)
    for k in vectors[0].deltas:  # one parameter at a time keeps memory at K copies of one tensor
        block = torch.stack([v.deltas[k].reshape(-1).double() for v in vectors])
        gram += block @ block.T
    norms = gram.diagonal().sqrt()
    denom = torch.outer(norms, norms)
    return torch.where(denom > 0, gram / torch.where(denom > 0, denom, torch.ones_like(denom)),
                       torch.full_like(gram, float("nan")))
