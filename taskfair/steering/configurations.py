"""Naming a configuration of a finished run in one short string, and getting its margins.

    base                 θ0
    fft | lora           the full / LoRA fine-tune
    subgroup:female      the model fine-tuned on one subgroup
    uniform:0.4          θ0 + 0.4 Σ_g τ_g
    inject:female:0.6    θ_FFT + 0.6 τ_female   (λ may be negative: inject:female:-0.5 subtracts)
    axis:female:0.6      θ0 + 0.6 τ_female
    remix:0.2,0.5,0.1    θ0 + Σ_g λ_g τ_g, one λ per subgroup in the run's order
    ties:0.7 | dare:0.7  θ0 + TIES/DARE merge of the subgroup vectors at λ (stored points only; any
                         method of taskfair.methods.grid_methods() is written so: linear:0.7 …)
    layerwise:1/1/0.5/0,0/0/0.3/0.3,…   one λ per subgroup and per block of layers (embeddings /
                         lower / upper / head by default), subgroups in the run's order; always
                         evaluated exactly. ``layerwise[2,4]:…`` splits the layers at 2 and 4
                         instead (embeddings / layers 0-1 / 2-3 / 4-end / head)

A configuration's margins (a stored point, the remix estimate or an exact run) are
:func:`taskfair.steering.margins.config_margins`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import LAM_MAX, method_params
from ..config.values import NumberError, echo, parse_number
from ..methods import grid_methods, method_spec
from ..store.results import RunResults

__all__ = ["Variant", "Recipe", "recipe", "parse_variant", "stored_configs", "VariantSpecError",
           "extrapolation", "outside_stored", "LAM_MAX", "LAM_RANGE", "lam_range", "method_recipe_params", "read_lams", "remix_coefficients",
           "config_forms"]


class VariantSpecError(ValueError):
    """A configuration string that does not name something in the run."""


@dataclass(frozen=True)
class Variant:
    family: str                    # base | fft | lora | subgroup | uniform | inject | axis | remix | layerwise,
                                   # or a merge method of grid_methods() (ties, dare, …)
    target: str = ""
    lam: float = float("nan")
    lams: tuple[float, ...] = ()
    grid: tuple[tuple[float, ...], ...] = ()   # layerwise: per subgroup, one λ per block
    bounds: tuple[int, ...] = ()               # layerwise: where the layers split (() = halves)

    @property
    def label(self) -> str:
        if self.family in ("base", "fft", "lora"):
            return {"base": "θ0 (base)", "fft": "FFT", "lora": "LoRA"}[self.family]
        if self.family == "subgroup":
            return f"{self.target} model"
        if self.family == "uniform":
            return f"uniform λ={self.lam:g}"
        if self.family in grid_methods():
            return f"{method_spec(self.family).label} λ={self.lam:g}"
        if self.family == "inject":
            return f"FFT + {self.lam:g}·τ_{self.target}"
        if self.family == "axis":
            return f"{self.lam:g}·τ_{self.target}"
        if self.family == "layerwise":
            return "layer-wise " + self.spec.partition(":")[2]
        return "remix " + ",".join(f"{v:g}" for v in self.lams)

    @property
    def spec(self) -> str:
        if self.family in ("base", "fft", "lora"):
            return self.family
        if self.family == "subgroup":
            return f"subgroup:{self.target}"
        if self.family == "uniform" or self.family in grid_methods():
            return f"{self.family}:{self.lam:g}"
        if self.family in ("inject", "axis"):
            return f"{self.family}:{self.target}:{self.lam:g}"
        if self.family == "layerwise":
            at = f"[{','.join(map(str, self.bounds))}]" if self.bounds else ""
            return f"layerwise{at}:" + ",".join("/".join(f"{v:g}" for v in row) for row in self.grid)
        return "remix:" + ",".join(f"{v:g}" for v in self.lams)


@dataclass(frozen=True)
class Recipe:
    """How a configuration's weights are made from the seed's stored task vectors:
    ``θ0 + merge(τ_v; λ_v for v in vectors)`` with ``method`` and its ``params``. The vectors are
    named as stored: ``fft``, ``lora`` or a subgroup."""

    vectors: tuple[str, ...]
    coefficients: tuple[float, ...]
    method: str = "task_arithmetic"
    params: tuple[tuple[str, float | int], ...] = ()
    per_block: tuple[tuple[float, ...], ...] = ()   # layer-wise: per vector, one λ per block
    bounds: tuple[int, ...] = ()                    # layer-wise: where the layers split

    @property
    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.vectors, self.coefficients))

    @property
    def layerwise(self) -> dict | None:
        """The per-block coefficients as a provenance record stores them (None: one λ per vector)."""
        if not self.per_block:
            return None
        return {"bounds": list(self.bounds), "coefficients": {v: list(row) for v, row in zip(self.vectors, self.per_block)}}


def recipe(config: Variant, groups: tuple[str, ...] | list[str], run_config: dict, seed: int) -> Recipe:
    """The :class:`Recipe` of a configuration in a run with ``groups`` and the stored
    ``run_config`` (a merge method takes its parameters from its ``grids``, as the precompute did)."""
    groups = tuple(groups)
    k = len(groups)
    if config.family == "base":
        return Recipe((), ())
    if config.family in ("fft", "lora"):
        return Recipe((config.family,), (1.0,))
    if config.family in ("subgroup", "axis"):
        lam = 1.0 if config.family == "subgroup" else config.lam
        return Recipe(groups, tuple(lam if g == config.target else 0.0 for g in groups))
    if config.family == "uniform":
        return Recipe(groups, (config.lam,) * k)
    if config.family == "remix":
        return Recipe(groups, tuple(config.lams))
    if config.family == "layerwise":
        # the per-vector coefficient shown in tables is the mean over blocks; the blocks rule the merge
        return Recipe(groups, tuple(float(np.mean(row)) for row in config.grid), per_block=config.grid,
                      bounds=config.bounds)
    if config.family == "inject":
        return Recipe(("fft",) + groups, (1.0,) + tuple(config.lam if g == config.target else 0.0
                                                          for g in groups))
    if config.family in grid_methods():
        params = method_recipe_params(run_config.get("grids", {}), config.family, seed)
        # the FFT vector at weight 0, as in the precompute's grid (DARE's random mask spans it)
        return Recipe(("fft",) + groups, (0.0,) + (config.lam,) * k, config.family, params)
    raise VariantSpecError(f"{config.spec!r} has no merge recipe")


def remix_coefficients(config: Variant, groups) -> tuple[float, ...] | None:
    """The configuration as ``θ0 + Σ_g λ_g τ_g`` (one λ per subgroup, in the run's order), or None
    when it is not one: it uses the FFT or LoRA vector, another merge method, or per-block λ."""
    if config.family in grid_methods() or config.family == "layerwise":
        return None
    how = recipe(config, groups, {}, 0)
    if how.method != "task_arithmetic" or any(v not in groups for v in how.vectors):
        return None
    given = how.as_dict
    return tuple(float(given.get(g, 0.0)) for g in groups)


def method_recipe_params(grids, method: str, seed: int) -> tuple[tuple[str, float | int], ...]:
    """What merge ``method`` is called with in a run whose ``grids`` (a :class:`GridConfig` or a
    stored config's mapping) are given: its parameters, then the seed if it draws random numbers.
    The precompute's grid and every rebuilt recipe use this, so both merge alike."""
    params = tuple(method_params(grids, method).items())
    return params + ((("seed", int(seed)),) if method_spec(method).seeded else ())


def config_forms() -> str:
    """Every form a configuration string takes, for help texts (the merge methods from the registry)."""
    return ("base, fft, lora, subgroup:<g>, uniform:<λ>, inject:<g>:<λ>, axis:<g>:<λ>, "
            + "".join(f"{m}:<λ>, " for m in grid_methods()) + "remix:<λ1>,…,<λK> or layerwise:<λ/λ/λ/λ>,…")


# the λ range the sliders, the search and the command line offer by default (grids.lam_range)
LAM_RANGE = (-1.0, 1.5)


def lam_range(results: RunResults) -> tuple[float, float]:
    """The run's ``grids.lam_range`` (runs stored before it existed: :data:`LAM_RANGE`)."""
    lo, hi = results.config.get("grids", {}).get("lam_range", LAM_RANGE)
    return float(lo), float(hi)


def _num(text: str, spec: str) -> float:
    try:   # one strict reader: float("0_3") would be 3, float("nan") a number
        return float(parse_number(text, what=f"{echo(spec)}: λ", lo=-LAM_MAX, hi=LAM_MAX))
    except NumberError as exc:
        raise VariantSpecError(f"{exc} (beyond ±{LAM_MAX:g} the vectors swamp θ0 and the margins overflow)") from None


def read_lams(text: str, groups, lam_range: tuple[float, float], *, what: str = "λ") -> tuple[float, ...]:
    """One λ per subgroup from ``0.1,-0.4,…`` (a link's ``?lam=``, a remix's values), each in
    ``lam_range`` (the run's): the strict number reader, the count, the range, or
    :class:`VariantSpecError` saying which."""
    lo, hi = lam_range
    try:   # float("0_1") would be 1, float("nan") a number
        vals = tuple(float(parse_number(x, what=what)) for x in str(text).split(","))
    except NumberError:
        raise VariantSpecError(f"{what}={echo(text)} is not a comma-separated list of numbers") from None
    if len(vals) != len(groups):
        raise VariantSpecError(f"{what} has {len(vals)} values; this run has {len(groups)} subgroups "
                              f"({', '.join(groups)})")
    if not all(lo <= v <= hi for v in vals):
        raise VariantSpecError(f"{what} values must be numbers between {lo:g} and {hi:g} (this run's λ range), "
                              f"got {echo(text)}")
    return vals


def extrapolation(results: RunResults, config: Variant | str) -> str:
    """Why a remix's estimate lies outside the λ region the stored points cover ("" when it does
    not, or when the configuration is not estimated): the estimate interpolates between stored
    points and is unreliable beyond them; evaluate it exactly instead."""
    if isinstance(config, str):
        config = parse_variant(config, results.groups)
    if config.family != "remix":
        return ""
    lams = next(iter(results.seeds.values())).subgroup_lams()
    if not len(lams):
        return ""
    lo, hi = np.asarray(lams).min(axis=0), np.asarray(lams).max(axis=0)
    out = [f"λ_{g}={v:g} (stored {a:g}–{b:g})" for g, v, a, b in zip(results.groups, config.lams, lo, hi)
           if v < a - 1e-9 or v > b + 1e-9]
    if out:
        return "an extrapolation beyond the stored points: " + ", ".join(out)
    if outside_stored(np.asarray(lams), np.asarray([config.lams]))[0]:
        neg = ", ".join(f"λ_{g}={v:g}" for g, v in zip(results.groups, config.lams) if v < -1e-9)
        return (f"an extrapolation: it mixes subgroups with negative λ ({neg}), and every stored point that mixes "
                "subgroups has λ ≥ 0 (the negative points are on each subgroup's own axis)")
    return ""


def outside_stored(stored: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """For each row of ``lams [M, K]``: whether the stored points ``[T, K]`` do not cover it —
    outside their box, or mixing two or more subgroups with a negative λ among them when no
    stored point that mixes subgroups has one (the box of single-axis points would hide that)."""
    lams = np.atleast_2d(np.asarray(lams, dtype=float))
    if not len(stored):
        return np.ones(len(lams), dtype=bool)
    out = ((lams < stored.min(axis=0) - 1e-9) | (lams > stored.max(axis=0) + 1e-9)).any(axis=1)
    mixing = stored[(np.abs(stored) > 1e-9).sum(axis=1) >= 2]
    if not (mixing < -1e-9).any():
        out |= ((np.abs(lams) > 1e-9).sum(axis=1) >= 2) & (lams < -1e-9).any(axis=1)
    return out


def parse_variant(spec: str, groups: tuple[str, ...] | list[str]) -> Variant:
    """Parse a configuration string (see the module docstring) against the run's subgroups."""
    s = (spec or "").strip()
    family, _, rest = s.partition(":")
    if family.startswith("layerwise"):
        return _parse_layerwise(s, family, rest, groups)
    if family in ("base", "fft", "lora"):
        if rest:
            raise VariantSpecError(f"{echo(spec)}: {family} takes no arguments")
        return Variant(family)
    if family == "subgroup":
        if rest not in groups:
            raise VariantSpecError(f"{echo(spec)}: subgroup {echo(rest)} is not in this run ({', '.join(groups)})")
        return Variant(family, rest)
    if family == "uniform" or family in grid_methods():
        return Variant(family, lam=_num(rest, spec))
    if family in ("inject", "axis"):
        g, _, lam = rest.partition(":")
        if g not in groups:
            raise VariantSpecError(f"{echo(spec)}: subgroup {echo(g)} is not in this run ({', '.join(groups)})")
        return Variant(family, g, _num(lam, spec))
    if family == "remix":
        vals = tuple(_num(x, spec) for x in rest.split(",")) if rest else ()
        if len(vals) != len(groups):
            raise VariantSpecError(f"{echo(spec)}: a remix needs {len(groups)} λ values, one per subgroup "
                                  f"({', '.join(groups)}), got {len(vals)}")
        return Variant(family, lams=vals)
    raise VariantSpecError(f"{echo(spec)} is not a configuration; use {config_forms()}")


def _parse_layerwise(spec: str, family: str, rest: str, groups) -> Variant:
    bounds: tuple[int, ...] = ()
    if family != "layerwise":
        inner = family[len("layerwise"):]
        if not (inner.startswith("[") and inner.endswith("]")):
            raise VariantSpecError(f"{echo(spec)}: write layerwise:… or layerwise[2,4]:… (the layers where blocks split)")
        try:
            bounds = tuple(int(parse_number(x, what="layer bound", integer=True, lo=1, hi=10_000))
                           for x in inner[1:-1].split(","))
        except NumberError:
            raise VariantSpecError(f"{echo(spec)}: the layer bounds {echo(inner)} must be whole numbers from 1") from None
        if list(bounds) != sorted(set(bounds)) or bounds[0] < 1:
            raise VariantSpecError(f"{echo(spec)}: the layer bounds must increase from 1, got {list(bounds)}")
    rows = rest.split(",") if rest else []
    if len(rows) != len(groups):
        raise VariantSpecError(f"{echo(spec)}: give one λ/λ/… per subgroup ({', '.join(groups)}), got {len(rows)}")
    grid = tuple(tuple(_num(x, spec) for x in row.split("/")) for row in rows)
    n = len(bounds) + 3 if bounds else 4
    if any(len(row) != n for row in grid):
        raise VariantSpecError(f"{echo(spec)}: each subgroup needs {n} λ separated by '/' (embeddings, "
                              + ("lower, upper" if not bounds else f"{len(bounds) + 1} layer blocks") + ", head)")
    return Variant("layerwise", grid=grid, bounds=bounds)


def stored_configs(results: RunResults) -> list[str]:
    """Every configuration evaluated by the precompute (the same for every seed)."""
    sr = next(iter(results.seeds.values()))
    out = ["base", "fft", "lora"] + [f"subgroup:{g}" for g in results.groups]
    for family in ("uniform", "inject", "axis", *grid_methods()):
        for target in (results.groups if family in ("inject", "axis") else [""]):
            try:
                lams, _ = sr.margins(family, target, "test")
            except KeyError:  # a method this run did not evaluate
                continue
            out += [Variant(family, target, float(l)).spec for l in lams]
    return out
