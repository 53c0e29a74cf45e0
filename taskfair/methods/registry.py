"""The registry of merge methods: each is one function over one parameter tensor, decorated with
:func:`register_merge_method`, which records its name, its label, its parameters with their
defaults (read from the function's signature) and their ranges, and whether it draws random
numbers. Everything that offers, checks or names a merge method reads this registry: the config
(``grids.methods``, ``grids.method_params``), the precompute's λ grid, the configuration strings
(``ties:0.7``), every merge path, the Frontier and the Export page.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, replace
from typing import Callable, Mapping

import torch

__all__ = ["Param", "MergeMethodSpec", "MERGE_METHODS", "register_merge_method", "method_spec", "grid_methods",
           "PLAIN"]

MergeFn = Callable[..., torch.Tensor]
PLAIN = "task_arithmetic"   # θ0 + Σ λ_i τ_i: the remix space itself, never a grid family of its own


@dataclass(frozen=True)
class Param:
    """A merge method's numeric parameter and the range it must lie in (``lo_open``/``hi_open``:
    whether the end itself is excluded). Its default is the function's."""

    name: str
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    help: str = ""
    default: float = math.nan

    @property
    def interval(self) -> str:
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"

    def problem(self, value) -> str:
        """"" when ``value`` is allowed, else why not (one phrase)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"must be a finite number in {self.interval}, got {value!r}"
        low_ok = value > self.lo if self.lo_open else value >= self.lo
        high_ok = value < self.hi if self.hi_open else value <= self.hi
        return "" if low_ok and high_ok else f"must be in {self.interval}, got {value:g}"


@dataclass(frozen=True)
class MergeMethodSpec:
    """One registered merge method; calling it calls its function."""

    name: str
    fn: MergeFn
    label: str
    params: tuple[Param, ...] = ()
    seeded: bool = False        # draws random numbers: gets the run's ``seed`` and ``tensor_index``
    description: str = ""

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return self.fn(*args, **kwargs)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise KeyError(f"{self.name} has no parameter {name!r} (its parameters: {known})")

    @property
    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def resolve(self, given: Mapping[str, float] | None = None) -> dict[str, float]:
        """The defaults with ``given`` over them, each checked against its range (ValueError)."""
        out = self.defaults
        for name, value in (given or {}).items():
            p = self.param(name)
            why = p.problem(value)
            if why:
                raise ValueError(f"{self.name} {name} {why}")
            out[name] = float(value)
        return out


MERGE_METHODS: dict[str, MergeMethodSpec] = {}


def register_merge_method(name: str, *, label: str | None = None, params: tuple[Param, ...] = (),
                          seeded: bool = False) -> Callable[[MergeFn], MergeFn]:
    """Register ``fn(deltas [K, n], weights [K], **params) -> [n]``, the merged change of one
    parameter tensor, as merge method ``name``. Each of ``params`` must be a keyword argument of
    the function with a default (the default the config, the plan and the recipe use). A
    ``seeded`` method also takes ``seed`` (the run's) and ``tensor_index`` (the tensor's position
    in sorted name order), so that each tensor draws its own random numbers, repeatably."""
    if not name.isidentifier() or name != name.lower():
        raise ValueError(f"a merge method's name is a lower-case identifier (it is typed in configuration "
                         f"strings such as {name}:0.7), got {name!r}")

    def deco(fn: MergeFn) -> MergeFn:
        sig = inspect.signature(fn)
        done = []
        for p in params:
            arg = sig.parameters.get(p.name)
            if arg is None or arg.default is inspect.Parameter.empty:
                raise TypeError(f"merge method {name!r}: parameter {p.name!r} must be a keyword argument of "
                                f"{fn.__name__} with a default")
            if p.problem(arg.default):
                raise ValueError(f"merge method {name!r}: the default {p.name}={arg.default!r} is outside "
                                 f"{p.interval}")
            done.append(replace(p, default=float(arg.default)))
        if seeded and not {"seed", "tensor_index"} <= set(sig.parameters):
            raise TypeError(f"merge method {name!r} is seeded: {fn.__name__} must take seed and tensor_index")
        doc = inspect.getdoc(fn) or ""
        MERGE_METHODS[name] = MergeMethodSpec(name, fn, label or name, tuple(done), seeded,
                                              doc.split("\n\n")[0].replace("\n", " "))
        return fn
    return deco


def method_spec(name: str) -> MergeMethodSpec:
    try:
        return MERGE_METHODS[name]
    except KeyError:
        raise ValueError(f"unknown merge method {name!r}; choose from {sorted(MERGE_METHODS)}") from None


def grid_methods() -> tuple[str, ...]:
    """The methods a run can evaluate as a family of its own (``grids.methods``): all but plain
    task arithmetic, in the order they were registered."""
    return tuple(m for m in MERGE_METHODS if m != PLAIN)
