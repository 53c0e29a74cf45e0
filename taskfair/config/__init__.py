"""Typed, frozen study configs loaded from YAML or a mapping and validated at load, with errors
that name the field. A config is saved in the manifest of every run it produced, and read back
from there by everything that rebuilds a run's models. (Named profiles such as ``quick`` belong
to the pipeline: :mod:`precompute.profiles`.)

- :mod:`.schema`  — the dataclasses (:class:`StudyConfig`, :class:`TrainConfig` …)
- :mod:`.loading` — :func:`load_config`; :func:`method_params`, what a merge method of a run merges with
"""
from .loading import load_config, method_params, upgrade_legacy
from .schema import (LAM_MAX, ConfigError, DatasetConfig, EvalConfig, GridConfig, LoraConfig, Precision, StudyConfig,
                     TrainConfig)

__all__ = ["ConfigError", "Precision", "TrainConfig", "DatasetConfig", "LoraConfig", "GridConfig",
           "EvalConfig", "StudyConfig", "LAM_MAX", "load_config", "method_params", "upgrade_legacy"]
