"""Merge methods: pure functions over one parameter tensor, each registered with its parameters,
their defaults and ranges (:mod:`.registry`); the ones taskfair ships are in :mod:`.builtin`.

- :func:`register_merge_method` — the decorator that adds a method
- :data:`MERGE_METHODS`, :func:`method_spec` — the registry, one method's :class:`MergeMethodSpec`
- :func:`grid_methods` — the methods a run can evaluate as a family of its own (all but plain
  task arithmetic)
"""
from .registry import MERGE_METHODS, PLAIN, MergeMethodSpec, Param, grid_methods, method_spec, register_merge_method
from . import builtin  # noqa: F401  (registers the shipped methods)

__all__ = ["MERGE_METHODS", "PLAIN", "MergeMethodSpec", "Param", "grid_methods", "method_spec",
           "register_merge_method"]
