"""A configuration's margins for one seed and split, by the cheapest faithful way: read back
when the precompute stored them, the instant remix estimate for a remix it did not, or an exact
run (merge the recipe, run the model) when asked or when no estimate exists (layer-wise λ).

This sits above :mod:`.configurations` (what a configuration is) and :mod:`.exact` (how a
recipe becomes a model and its margins), which do not import each other's way back.
"""
from __future__ import annotations

import numpy as np

from ..methods import grid_methods
from ..store.results import RunResults
from .configurations import Variant, VariantSpecError, parse_variant, recipe
from .estimate import RemixEstimator
from .exact import build_model, load_theta0, model_margins

__all__ = ["config_margins"]


def config_margins(results: RunResults, config: Variant | str, seed: int, split: str = "test", *,
                   exact: bool = False, base=None) -> tuple[np.ndarray, bool]:
    """``(margins [N], estimated)`` of a configuration for one seed and split."""
    if isinstance(config, str):
        config = parse_variant(config, results.groups)
    if seed not in results.seeds:
        raise VariantSpecError(f"seed {seed} is not in run {results.run_id!r} (seeds {list(results.seeds)})")
    sr = results.seeds[seed]
    if config.family in ("base", "fft", "lora"):
        return sr.single(config.family, "", split).astype(np.float64), False
    if config.family == "subgroup":
        return sr.single("subgroup", config.target, split).astype(np.float64), False
    if config.family in ("uniform", "inject", "axis", *grid_methods()):
        try:
            lams, rows = sr.margins(config.family, config.target, split)
        except KeyError:
            raise VariantSpecError(f"{config.spec!r}: this run evaluated no {config.family} merges "
                                  "(set grids.methods in the precompute config)") from None
        hit = np.flatnonzero(np.isclose(lams, config.lam, atol=1e-6))
        if not len(hit):
            raise VariantSpecError(f"{config.spec!r} was not evaluated; stored λ: "
                                  f"{', '.join(f'{v:g}' for v in lams)} (or use a remix)")
        return rows[hit[0]].astype(np.float64), False
    if config.family == "remix":   # a stored point when there is one
        lams, rows = sr.subgroup_space(split)
        if len(lams):
            hit = np.flatnonzero(np.all(np.isclose(lams, config.lams, atol=1e-6), axis=1))
            if len(hit):
                return rows[hit[0]], False
    if config.family == "layerwise" or exact:   # no estimate exists for per-block λ: always exact
        run = results.open_run()
        fresh = base is None
        base = base or load_theta0(run, seed)
        model = build_model(run, seed, recipe(config, results.groups, results.config, seed), base, in_place=fresh)
        return model_margins(run, seed, model, base[1], splits=(split,))[split].astype(np.float64), False
    m = RemixEstimator(sr, split).margins(config.lams)
    if not np.isfinite(m).all():
        raise VariantSpecError(f"{config.spec!r}: the estimate is not finite; evaluate it exactly (--exact)")
    return m, True
