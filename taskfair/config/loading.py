"""Reading a study config from YAML or a mapping (a run's stored config): every field checked
against its annotation and every value against its range, with errors that name the field
(``train.epochs: expected a number, got 'many'``)."""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from ..methods import grid_methods, method_spec
from .schema import LAM_MAX, ConfigError, GridConfig, StudyConfig

__all__ = ["load_config", "method_params", "upgrade_legacy"]

# fields of earlier versions, read into their present place (a run's stored config keeps them)
_LEGACY_GRIDS = {"ties_density": ("ties", "density"), "dare_drop_rate": ("dare", "drop_rate")}


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{where}: {value!r} matches none of {[ _type_name(a) for a in args]}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        key_tp, item = args
        return {_coerce(k, key_tp, f"{where} key"): _coerce(v, item, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        item = args[0]
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls, data: Any, where: str):
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping of fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown field(s) {unknown}; "
                          f"known fields: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:  # __post_init__ checks, e.g. TrainConfig
        raise ConfigError(f"{where or 'config'}: {exc}") from exc


def _check(cfg: StudyConfig) -> StudyConfig:
    def need(ok: bool, where: str, msg: str) -> None:
        if not ok:
            raise ConfigError(f"{where}: {msg}")

    need(bool(cfg.seeds), "seeds", "give at least one seed")
    need(len(set(cfg.seeds)) == len(cfg.seeds), "seeds", f"duplicate seeds in {list(cfg.seeds)}")
    need(all(0 <= s < 2 ** 32 for s in cfg.seeds), "seeds",
         f"seeds are whole numbers from 0 to 2**32 - 1 (what numpy and torch accept), got {list(cfg.seeds)}")
    need(len(cfg.seeds) <= 100, "seeds", f"{len(cfg.seeds)} seeds: give at most 100 (each trains every model)")
    need(bool(cfg.name) and all(c.isalnum() or c in "-_." for c in cfg.name), "name",
         f"{cfg.name!r}: use letters, digits, '-', '_' or '.'")
    for grid in ("uniform", "inject", "axis", "pairs"):
        values = getattr(cfg.grids, grid)
        need(bool(values) or grid == "pairs", f"grids.{grid}", "the grid is empty; give at least one λ")
        need(all(math.isfinite(v) and abs(v) <= LAM_MAX for v in values), f"grids.{grid}",
             f"every λ must be a finite number from {-LAM_MAX:g} to {LAM_MAX:g}, got {list(values)}")
        need(grid not in ("uniform", "pairs") or all(v >= 0 for v in values), f"grids.{grid}",
             f"λ must be ≥ 0 here (negative λ belong on grids.axis or grids.inject), got {list(values)}")
        need(len(set(values)) == len(values), f"grids.{grid}", f"duplicate λ values in {list(values)}")
    bad = [m for m in cfg.grids.methods if m not in grid_methods()]
    need(not bad, "grids.methods", f"{bad} unknown; choose from {list(grid_methods())} (plain addition is always there)")
    need(len(set(cfg.grids.methods)) == len(cfg.grids.methods), "grids.methods",
         f"a method is listed twice in {list(cfg.grids.methods)}")
    for m, given in cfg.grids.method_params.items():
        need(m in grid_methods(), f"grids.method_params.{m}", f"no merge method {m!r}; choose from "
             f"{list(grid_methods())}")
        spec = method_spec(m)
        for name, value in given.items():
            known = [p.name for p in spec.params]
            need(name in known, f"grids.method_params.{m}.{name}",
                 f"{m} has no parameter {name!r}; its parameters: {known or 'none'}")
            why = spec.param(name).problem(value)
            need(not why, f"grids.method_params.{m}.{name}", why)
    need(all(math.isfinite(v) and v >= 0 for v in cfg.grids.methods_grid) and
         (bool(cfg.grids.methods_grid) or not cfg.grids.methods), "grids.methods_grid",
         f"give finite λ ≥ 0, got {list(cfg.grids.methods_grid)}")
    lo_hi = tuple(cfg.grids.lam_range)
    need(len(lo_hi) == 2 and all(math.isfinite(v) and abs(v) <= LAM_MAX for v in lo_hi) and lo_hi[0] < lo_hi[1]
         and lo_hi[0] <= 0 <= lo_hi[1], "grids.lam_range",
         f"give [low, high] with {-LAM_MAX:g} ≤ low ≤ 0 ≤ high ≤ {LAM_MAX:g} and low < high, got {list(lo_hi)}")
    need(0 <= cfg.eval.bootstrap <= 100_000, "eval.bootstrap", f"must be between 0 and 100000, got {cfg.eval.bootstrap}")
    need(0 <= cfg.grids.probes <= 1000, "grids.probes", f"must be between 0 and 1000, got {cfg.grids.probes}")
    d = cfg.dataset
    need(0 < d.test_size < 1, "dataset.test_size", f"must be in (0, 1), got {d.test_size}")
    need(0 < d.val_size < 1, "dataset.val_size", f"must be in (0, 1), got {d.val_size}")
    need(d.max_rows is None or d.max_rows >= 50, "dataset.max_rows", "must be at least 50")
    if d.name == "mhs":
        need(d.attribute in ("gender", "race", "gender+race"), "dataset.attribute",
             f"Measuring Hate Speech needs attribute gender, race or gender+race (intersections), got {d.attribute!r}")
    need(d.min_group_size >= 0, "dataset.min_group_size", f"must be ≥ 0, got {d.min_group_size}")
    if d.name in ("table", "image_folder"):
        need(d.path is not None, "dataset.path", "a table dataset needs a path to a CSV/parquet file"
             if d.name == "table" else "an image_folder dataset needs the path of its labels-and-groups CSV "
             "(image, label, group columns); try --set dataset.path=FOLDER/labels.csv")
        need((d.group_column is None) != (d.group_columns is None), "dataset.group_column",
             "give exactly one of group_column (one column listing groups) or group_columns")
    if d.subgroups is not None:
        need(len(d.subgroups) >= 1, "dataset.subgroups", "give at least one subgroup")
        folded: dict[str, str] = {}
        for g in d.subgroups:   # two names one file on a case-insensitive disk, and one subgroup to a reader
            need(g.strip() != "", "dataset.subgroups", f"an empty subgroup name in {list(d.subgroups)}")
            other = folded.setdefault(g.casefold(), g)
            need(other == g and list(d.subgroups).count(g) == 1, "dataset.subgroups",
                 f"{g!r} is listed twice" if other == g else
                 f"{other!r} and {g!r} differ only by case; give each subgroup once")
    need(cfg.lora.r >= 1, "lora.r", f"must be ≥ 1, got {cfg.lora.r}")
    need(0 <= cfg.lora.dropout < 1, "lora.dropout", f"must be in [0, 1), got {cfg.lora.dropout}")
    need(cfg.lora.learning_rate is None or cfg.lora.learning_rate > 0, "lora.learning_rate", "must be > 0")
    need(cfg.eval.batch_size >= 1, "eval.batch_size", "must be ≥ 1")
    # each evaluated method's parameters in full: the stored config says what the run used
    full = {m: method_params(cfg.grids, m) for m in cfg.grids.methods}
    full.update({m: method_params(cfg.grids, m) for m in cfg.grids.method_params if m not in full})
    return dataclasses.replace(cfg, grids=dataclasses.replace(cfg.grids, method_params=full))


def method_params(grids: GridConfig | Mapping[str, Any], method: str) -> dict[str, float]:
    """The parameters ``method`` merges with in a run: its registered defaults, overridden by
    ``grids.method_params`` (of a :class:`GridConfig`, or of a stored config's ``grids``
    mapping, whose earlier field names are read too)."""
    if isinstance(grids, GridConfig):
        given = grids.method_params.get(method, {})
    else:
        given = dict(upgrade_legacy({"grids": dict(grids)})["grids"].get("method_params", {}).get(method, {}))
    return method_spec(method).resolve(given)


def upgrade_legacy(data: Mapping[str, Any]) -> dict[str, Any]:
    """A config mapping with the fields of earlier versions moved to their present place
    (``grids.ties_density`` → ``grids.method_params.ties.density``); the rest unchanged."""
    data = dict(data)
    grids = data.get("grids")
    if not isinstance(grids, Mapping) or not any(k in grids for k in _LEGACY_GRIDS):
        return data
    grids = dict(grids)
    params = grids.get("method_params") or {}
    if not isinstance(params, Mapping):   # the type check says what is wrong with it
        return data
    params = {m: dict(v) if isinstance(v, Mapping) else v for m, v in params.items()}
    for old, (method, name) in _LEGACY_GRIDS.items():
        if old in grids:
            entry = params.setdefault(method, {})
            value = grids.pop(old)
            if isinstance(entry, dict):
                entry.setdefault(name, value)
    grids["method_params"] = params
    data["grids"] = grids
    return data


def _set_dotted(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{p}' is not a section")
    node[parts[-1]] = value


def load_config(source: str | Path | Mapping[str, Any],
                overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """A :class:`StudyConfig` from a YAML file or a mapping (a run's stored config);
    ``overrides`` are dotted keys (``{"train.epochs": 2}``) applied before validation."""
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if data is None:
            raise ConfigError(f"{path} is empty; write at least `name:` and `model:` (or start from a profile: "
                              "precompute/profiles/quick.yaml)")
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path} must hold a mapping of fields (name: …, model: …), not a "
                              f"{type(data).__name__}")
    data = upgrade_legacy(_deep_copy(data))
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    return _check(_build(StudyConfig, data, ""))


def _deep_copy(x):
    if isinstance(x, Mapping):
        return {k: _deep_copy(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_deep_copy(v) for v in x]
    return x
