"""The merge engine: one entry point that sets a model's weights to ``θ0 + merge(τ; λ)``, used by
every consumer (the precompute's λ grid, exact evaluation, search confirmation, reports, export,
``recreate``).

Two ways, one result (bitwise for task arithmetic: the same float32 operations in the same order):

- **stream** — tensor by tensor: each parameter is computed from θ0's tensor and the K vectors'
  tensors, read one at a time from their safetensors files (positioned reads), and written into
  the model on its device (task arithmetic is computed there, on a GPU when the model is on
  one). Peak memory: the model plus a few tensors, whatever K. Only vectors
  with a non-zero coefficient are read for task arithmetic.
- **device** — on a GPU, θ0 and the K vectors read once onto the GPU in their stored dtype when
  they fit in 80% of its free memory; each point is computed there (for λ grids and sliders).
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

from ..methods import method_spec
from .merge import FlatMerger, check_coefficients, merge_tensor
from .streaming import FLOATS, TensorSource
from .taskvector import TaskVector, TaskVectorMismatch

__all__ = ["MergeEngine", "memory_budget", "parse_bytes", "choose_mode", "BUDGET_ENV"]

BUDGET_ENV = "TASKFAIR_MEMORY_BUDGET"
CHUNK = 8 << 20  # elements merged at a time in the streamed modes (32 MB of float32)
Mode = Literal["auto", "flat", "stream"]
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str, *, where: str = BUDGET_ENV) -> int:
    """``"8G"``, ``"512M"``, ``"1.5G"`` or a plain number of bytes (the number read strictly:
    ``1_0G``, ``nanG`` and ``infG`` are not sizes)."""
    from ..config.values import NumberError, echo, parse_number
    raw = str(text).strip().upper().removesuffix("B").removesuffix("I")
    unit = raw[-1:] if raw[-1:] in _UNITS and raw[-1:] else ""
    try:
        value = float(parse_number(raw[:-1] if unit else raw, what=where)) * _UNITS[unit]
    except NumberError:
        raise ValueError(f"{where}: {echo(text)} is not a size; write e.g. 8G, 512M or a number of bytes") from None
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{where}: {echo(text)} must be a positive size (e.g. 8G, 512M)")
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


def _to(t: torch.Tensor, device: torch.device, *, copy: bool = False) -> torch.Tensor:
    """``t`` as float32 on ``device``; moved in its own dtype first (bf16 crosses to a GPU at
    half the bytes) and converted there."""
    if t.device != device:
        return t.to(device).to(torch.float32)  # already a new tensor
    return t.to(torch.float32, copy=copy)


def choose_mode(numel: int, k: int, device: torch.device | str = "cpu", *, reuse: bool = False,
                budget: int | None = None, stored_bytes: int | None = None) -> str:
    """The engine's automatic choice for repeated merges (``reuse``): on the CPU ``flat`` while
    (K + 2) float32 copies of the model fit the budget; on a GPU ``device`` while θ0 and the K
    vectors in their stored dtype (``stored_bytes`` for all K + 1) fit in 80% of the GPU's free
    memory; else (and for one-shot merges) ``stream``, tensor by tensor."""
    device = torch.device(device)
    if not reuse:
        return "stream"
    if device.type == "cpu":
        fits = (k + 2) * numel * 4 <= (memory_budget() if budget is None else budget)
        return "flat" if fits else "stream"
    if device.type == "cuda" and stored_bytes is not None:
        free, _ = torch.cuda.mem_get_info(device)
        if stored_bytes <= 0.8 * free:
            return "device"
    return "stream"


class _Resident:
    """A task vector read once onto a device, in its stored dtype."""

    def __init__(self, src, names: Sequence[str], device: torch.device) -> None:
        self.meta, self.path = src.meta, src.path
        self.tensors = {n: src.get(n).to(device) for n in names}
        src.close()

    def get(self, name: str) -> torch.Tensor:
        return self.tensors[name]

    def get_range(self, name: str, start: int, stop: int, out=None) -> torch.Tensor:
        return self.tensors[name].reshape(-1)[start:stop]

    def close(self) -> None:
        self.tensors = {}


class _InRam:
    """A task vector already in memory, read like a file."""

    def __init__(self, tv: TaskVector) -> None:
        self.tv = tv
        self.meta = {n: (tuple(t.shape), "F32") for n, t in tv.deltas.items()}
        self.path = tv.name or "task vector"

    def get(self, name: str) -> torch.Tensor:
        return self.tv.deltas[name]

    def get_range(self, name: str, start: int, stop: int, out=None) -> torch.Tensor:
        return self.tv.deltas[name].reshape(-1)[start:stop]

    def nbytes(self, name: str) -> int:
        t = self.tv.deltas[name]
        return t.numel() * t.element_size()

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
        base: θ0's weights, for setting the model several times: a mapping in memory, or a
            :class:`TensorSource` over θ0's stored files (read tensor by tensor, never held whole).
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
            stored = None
            if device.type == "cuda":
                sources = [_InRam(v) if isinstance(v, TaskVector) else TensorSource(v) for v in vectors]
                stored = sum(src.nbytes(n) for src in sources for n in self.names if n in src.meta) + \
                    sum(p.numel() * p.element_size() for p in self.params.values())
                for src in sources:
                    src.close()
            mode = choose_mode(numel, self.k, device, reuse=reuse, budget=budget, stored_bytes=stored)
        if mode not in ("flat", "stream", "device"):
            raise ValueError(f"mode must be auto, flat, stream or device, got {mode!r}")
        if mode == "device" and device.type == "cpu":
            mode = "flat"
        self.mode = mode
        self._base, self._spent, self._flat, self._sources = base, False, None, []
        self._buffers: dict[str, torch.Tensor] = {}
        if mode == "flat":
            tvs = [v if isinstance(v, TaskVector) else _load(Path(v), Path(v).stem) for v in vectors]
            # the flat buffer lives on the CPU; a model elsewhere gets each merge copied in
            self._driven = model if device.type == "cpu" else copy.deepcopy(model).cpu().float()
            if isinstance(base, TensorSource):
                base = {n: base.get(n) for n in self.names}
            self._flat = FlatMerger(self._driven, tvs, base=base)
        else:
            self._sources = [_InRam(v) if isinstance(v, TaskVector) else TensorSource(v) for v in vectors]
            self._check_sources()
            if mode == "device":
                # θ0 and every vector held on the model's device in their stored dtype, read once;
                # each point is then computed there at device-memory speed
                self._sources = [_Resident(src, self.names, device) for src in self._sources]
                if base is not None:
                    self._base = {n: (base.get(n) if isinstance(base, TensorSource) else base[n]).to(device)
                                  for n in self.names}

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

    def set(self, coefficients: Sequence[float], *, method: str = "task_arithmetic",
            per_tensor: Mapping[str, Sequence[float]] | None = None, **params) -> None:
        """Write ``θ0 + merge(τ; coefficients)`` into the model. ``per_tensor`` (task arithmetic,
        streaming engines) gives some tensors coefficients of their own: layer-wise merges."""
        c = torch.as_tensor([float(x) for x in coefficients], dtype=torch.float32)
        check_coefficients(c, self.k)
        method_spec(method)
        if per_tensor:
            if self._flat is not None or method != "task_arithmetic" or params:
                raise ValueError("per-tensor coefficients are task arithmetic on a streaming engine "
                                 "(MergeEngine(..., mode='stream'))")
            for name, cs in per_tensor.items():
                check_coefficients(torch.as_tensor([float(x) for x in cs], dtype=torch.float32), self.k)
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
        own = {n: [float(x) for x in cs] for n, cs in (per_tensor or {}).items()}
        with torch.no_grad():
            for i, name in enumerate(self.names):
                p = self.params[name]
                if plain:
                    self._set_plain(name, p, own.get(name, coefs))
                    continue
                # other methods need the whole tensor (TIES a per-tensor threshold, DARE per-tensor random
                # draws), on the CPU, where their draws match the flat path's
                fresh = isinstance(self._base, TensorSource)  # read just now: ours to modify
                theta0 = p if self._base is None else self._base.get(name) if fresh else self._base[name]
                acc = _to(theta0.detach(), torch.device("cpu"), copy=not fresh).reshape(-1)
                del theta0
                rows = torch.empty((self.k, acc.numel()), dtype=torch.float32)  # filled in place
                for j, src in enumerate(self._sources):
                    rows[j].copy_(src.get(name).reshape(-1))
                acc += merge_tensor(method, rows, c, i, **params)
                del rows
                p.copy_(acc.view(p.shape).to(p.device), non_blocking=True)
        self._spent = True

    def _set_plain(self, name: str, p: torch.Tensor, coefs: list[float]) -> None:
        """``p = θ0 + Σ c_k τ_k`` for one tensor, computed on ``p``'s device a slice of at most
        :data:`CHUNK` elements at a time, into buffers reused across tensors: however large the
        tensor (a 7B model's embedding is 0.5 GB in float32), a few tens of MB beside the model,
        and no churn of large allocations."""
        flat = p.view(-1)
        n = flat.numel()
        for a in range(0, n, CHUNK):
            b = min(n, a + CHUNK)
            acc = self._buffer("acc", b - a, torch.float32, p.device)
            if self._base is None:
                acc.copy_(flat[a:b])
            elif isinstance(self._base, TensorSource):
                acc.copy_(self._base.get_range(name, a, b, out=self._buffer("read", b - a, torch.float64)))
            else:
                acc.copy_(self._base[name].reshape(-1)[a:b])
            for ck, src in zip(coefs, self._sources):
                if ck:  # a vector at 0 is never read; a bf16 slice is added as stored (converted
                    # element by element), moved to the device in its own dtype
                    part = src.get_range(name, a, b, out=self._buffer("read", b - a, torch.float64))
                    acc.add_(part.to(p.device), alpha=ck)
            flat[a:b].copy_(acc)

    def _buffer(self, key: str, numel: int, dtype: torch.dtype, device=torch.device("cpu")) -> torch.Tensor:
        """A reusable scratch tensor of at least ``numel`` elements of ``dtype`` (grown when needed);
        float64-sized so any stored dtype fits in it when reinterpreted."""
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < numel or buf.dtype != dtype or buf.device != torch.device(device):
            buf = self._buffers[key] = torch.empty(min(CHUNK, max(numel, 1)), dtype=dtype, device=device)
        return buf[:numel]

    def close(self) -> None:
        self._buffers = {}
        for src in self._sources:
            src.close()

    def __enter__(self) -> "MergeEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
