"""The merge engine: one entry point that sets a model's weights to ``θ0 + merge(τ; λ)``, used by
every consumer (the precompute's λ grid, exact evaluation, search confirmation, reports, export,
``recreate``).

Two ways, one result (bitwise for task arithmetic: the same float32 operations in the same order):

- **stream** — tensor by tensor: each parameter is computed from θ0's tensor and the K vectors'
  tensors, read one at a time from their safetensors files (positioned reads), and written into
  the model on its device (task arithmetic is computed there, on a GPU when the model is on
  one). Peak memory: the model plus a few tensors, whatever K. Only vectors
  with a non-zero coefficient are read for task arithmetic.
- **flat** — the K vectors held in RAM as one ``[K, P]`` tensor (:class:`FlatMerger`): each new
  coefficient vector is one blocked pass; for λ grids and sliders, when ``(K + 2)`` float32 model
  copies fit the memory budget.

The budget is half of the available memory unless ``TASKFAIR_MEMORY_BUDGET`` says otherwise
(``8G``, ``512M`` or bytes).
"""
from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Literal, Mapping, Sequence

import torch

from .merge import FlatMerger, _method, check_coefficients, merge_tensor
from .streaming import FLOATS, TensorSource
from .taskvector import TaskVector, TaskVectorMismatch

__all__ = ["MergeEngine", "memory_budget", "parse_bytes", "BUDGET_ENV"]

BUDGET_ENV = "TASKFAIR_MEMORY_BUDGET"
Mode = Literal["auto", "flat", "stream"]
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str, *, where: str = BUDGET_ENV) -> int:
    """``"8G"``, ``"512M"``, ``"1.5G"`` or a plain number of bytes."""
    raw = str(text).strip().upper().removesuffix("B").removesuffix("I")
    unit = raw[-1:] if raw[-1:] in _UNITS and raw[-1:] else ""
    try:
        value = float(raw[:-1] if unit else raw) * _UNITS[unit]
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a size; write e.g. 8G, 512M or a number of bytes") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: {text!r} must be a positive size")
    return int(value)


def memory_budget() -> int:
    """Bytes the in-RAM merge may use: ``TASKFAIR_MEMORY_BUDGET`` or half the available memory."""
    if os.environ.get(BUDGET_ENV):
        return parse_bytes(os.environ[BUDGET_ENV])
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    return available // 2


class _InRam:
    """A task vector already in memory, read like a file."""

    def __init__(self, tv: TaskVector) -> None:
        self.tv = tv
        self.meta = {n: (tuple(t.shape), "F32") for n, t in tv.deltas.items()}
        self.path = tv.name or "task vector"

    def get(self, name: str) -> torch.Tensor:
        return self.tv.deltas[name]

    def close(self) -> None:
        pass


def _load(path: Path, name: str) -> TaskVector:
    """A stored vector (one file or a folder of shards) in RAM, as float32."""
    src = TensorSource(path)
    try:
        return TaskVector({n: src.get(n) for n in src.names() if src.meta[n][1] in FLOATS}, name=name)
    finally:
        src.close()


class MergeEngine:
    """Sets ``model`` (modified in place: give it a private copy) to ``θ0 + merge(τ; λ)``.

    Args:
        model: the model to write into, on any device. Its current weights are θ0 unless ``base``
            is given; without ``base`` the engine can set the weights once (one-shot merges).
        vectors: task vectors in memory, or paths of stored task-vector safetensors files (already
            checked by their owner: hash and base).
        base: θ0's weights, for setting the model several times.
        reuse: whether :meth:`set` will be called many times (a λ grid, a slider): then the flat
            in-RAM path is taken when it fits the budget.
        mode: ``auto`` (the default), or force ``flat`` / ``stream``.
        budget: bytes for the flat path (default :func:`memory_budget`).
    """

    def __init__(self, model: torch.nn.Module, vectors: Sequence[TaskVector | str | Path], *,
                 base: Mapping[str, torch.Tensor] | None = None, reuse: bool = False, mode: Mode = "auto",
                 budget: int | None = None) -> None:
        if not vectors:
            raise ValueError("the merge engine needs at least one task vector")
        self.model = model
        self.k = len(vectors)
        self.params = {n: p for n, p in model.named_parameters() if p.is_floating_point()}
        self.names = sorted(self.params)
        numel = sum(p.numel() for p in self.params.values())
        device = next(iter(self.params.values())).device
        if mode == "auto":
            # a model on a GPU is merged there, tensor by tensor (the flat buffer lives in host RAM)
            fits = (self.k + 2) * numel * 4 <= (memory_budget() if budget is None else budget)
            mode = "flat" if reuse and fits and device.type == "cpu" else "stream"
        if mode not in ("flat", "stream"):
            raise ValueError(f"mode must be auto, flat or stream, got {mode!r}")
        self.mode = mode
        self._base, self._spent, self._flat, self._sources = base, False, None, []
        if mode == "flat":
            tvs = [v if isinstance(v, TaskVector) else _load(Path(v), Path(v).stem) for v in vectors]
            # the flat buffer lives on the CPU; a model elsewhere gets each merge copied in
            self._driven = model if device.type == "cpu" else copy.deepcopy(model).cpu().float()
            self._flat = FlatMerger(self._driven, tvs, base=base)
        else:
            self._sources = [_InRam(v) if isinstance(v, TaskVector) else TensorSource(v) for v in vectors]
            self._check_sources()

    def _check_sources(self) -> None:
        for src in self._sources:
            floats = {n for n, (_, dtype) in src.meta.items() if dtype in FLOATS}
            missing = sorted(set(self.names) - floats)
            extra = sorted(floats - set(self.names))
            if missing or extra:
                raise TaskVectorMismatch(f"{src.path} does not match the model's parameters: missing "
                                         f"{missing[:5]}, unexpected {extra[:5]}")
            wrong = [n for n in self.names if tuple(src.meta[n][0]) != tuple(self.params[n].shape)]
            if wrong:
                raise TaskVectorMismatch(f"{src.path}: '{wrong[0]}' has shape {tuple(src.meta[wrong[0]][0])}, "
                                         f"the model has {tuple(self.params[wrong[0]].shape)}")

    def set(self, coefficients: Sequence[float], *, method: str = "task_arithmetic", **params) -> None:
        """Write ``θ0 + merge(τ; coefficients)`` into the model."""
        c = torch.as_tensor([float(x) for x in coefficients], dtype=torch.float32)
        check_coefficients(c, self.k)
        _method(method)
        if self._flat is not None:
            self._flat.set(c, method=method, **params)
            if self._driven is not self.model:
                with torch.no_grad():
                    for n, w in self._flat.weights().items():
                        self.params[n].copy_(w, non_blocking=True)
            return
        if self._base is None and self._spent:
            raise ValueError("this engine already merged into the model once; pass base= (θ0's weights) "
                             "to set it again")
        plain = method == "task_arithmetic" and not params
        coefs = c.tolist()
        with torch.no_grad():
            for i, name in enumerate(self.names):
                p = self.params[name]
                theta0 = self._base[name] if self._base is not None else p
                # task arithmetic is computed on the model's device (a GPU when there is one); the
                # other methods on the CPU, where their random draws match the flat path's
                dev = p.device if plain else torch.device("cpu")
                acc = theta0.detach().to(dev, torch.float32, copy=True).reshape(-1)  # one private copy
                if plain:
                    for ck, src in zip(coefs, self._sources):
                        if ck:  # a vector at 0 is never read
                            acc.add_(src.get(name).to(dev, torch.float32).reshape(-1), alpha=ck)
                else:
                    rows = torch.stack([src.get(name).to(torch.float32).reshape(-1) for src in self._sources])
                    acc += merge_tensor(method, rows, c, i, **params)
                p.copy_(acc.view(p.shape), non_blocking=True)
        self._spent = True

    def close(self) -> None:
        for src in self._sources:
            src.close()

    def __enter__(self) -> "MergeEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
