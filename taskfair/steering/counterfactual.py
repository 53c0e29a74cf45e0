"""Counterfactual identity tests of any configuration: swap the identity terms of each subgroup's
test comments for the opposite group's (RedditBias's own term lists, :mod:`taskfair.data.counterfactual`)
and measure, per subgroup, how often the prediction flips and how much the margin moves when only
the identity term changed. The configuration is merged and run exactly (a stored point's margins
are not enough: the swapped texts were never evaluated)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import load_config
from ..data.counterfactual import Swapper, identity_pairs
from ..data.images import is_image_run
from ..models.inference import predict_margins
from ..store.results import RunResults
from .configurations import Variant, VariantSpecError, parse_variant, recipe

__all__ = ["Counterfactual", "counterfactual_test", "COUNTERFACTUAL_COLUMNS"]

COUNTERFACTUAL_COLUMNS = ("subgroup", "in subgroup", "swapped", "flips", "flip rate", "to hostile", "to not hostile",
                          "mean Δmargin", "mean |Δmargin|")


@dataclass(frozen=True)
class Counterfactual:
    config: str
    seed: int
    split: str
    table: pd.DataFrame      # one row per subgroup: COUNTERFACTUAL_COLUMNS
    examples: pd.DataFrame   # every swapped example: subgroup, text, counterfactual, margins, flipped

    def summary(self) -> str:
        t = self.table[self.table["swapped"] > 0]
        if not len(t):
            return f"{self.config}: no {self.split} comment contains a swappable identity term"
        worst = t.loc[t["flip rate"].idxmax()]
        return (f"{self.config} (seed {self.seed}, {self.split}): {int(t.flips.sum())} of {int(t.swapped.sum())} "
                f"predictions flip when only the identity term changes; most for {worst.subgroup} "
                f"({worst['flip rate']:.1%}, mean Δmargin {worst['mean Δmargin']:+.3f})")


def counterfactual_test(results: RunResults, config: Variant | str, *, seed: int | None = None, split: str = "test",
                        pairs: Mapping[str, Sequence[tuple[str, str]]] | None = None, model=None, processor=None,
                        max_per_group: int | None = None,
                        progress: Callable[[float, str], None] | None = None) -> Counterfactual:
    """Swap each subgroup's identity terms in its ``split`` comments and compare the predictions of
    ``config`` (merged exactly for ``seed``; or ``model``/``processor`` when the caller has built
    it) on the original and the swapped texts. ``pairs`` default to RedditBias's lists for the
    run's subgroups; subgroups without pairs are reported with 0 swapped. ``max_per_group`` caps the
    swapped comments scored per subgroup (the first ones; None: all)."""
    if isinstance(config, str):
        if "@" in config:
            raise VariantSpecError(f"{config!r}: counterfactual tests score a model; per-group thresholds are not one")
        config = parse_variant(config, results.groups)
    if is_image_run(results.config):
        raise ValueError("counterfactual identity tests swap words: this run's dataset is images")
    seed = int(next(iter(results.seeds)) if seed is None else seed)
    if seed not in results.seeds:
        raise VariantSpecError(f"seed {seed} is not in run {results.run_id!r} (seeds {list(results.seeds)})")
    pairs = identity_pairs(results.groups) if pairs is None else dict(pairs)
    sr = results.seeds[seed]
    texts = results.data["text"].to_numpy()[sr.index[split]]
    rows, originals = [], {}
    for j, g in enumerate(results.groups):
        if not pairs.get(g):
            continue
        swap = Swapper(pairs[g])
        taken = 0
        for i in np.flatnonzero(sr.masks[split][j]):
            new, n = swap(str(texts[i]))
            if n and new != texts[i]:
                rows.append({"subgroup": g, "row": int(i), "text": str(texts[i]), "counterfactual": new, "terms": n})
                originals[int(i)] = str(texts[i])
                taken += 1
                if max_per_group is not None and taken >= max_per_group:
                    break
    ex = pd.DataFrame(rows, columns=["subgroup", "row", "text", "counterfactual", "terms"])
    if len(ex):
        if model is None:
            from .exact import build_model, load_theta0
            run = results.open_run()
            base = load_theta0(run, seed)
            model = build_model(run, seed, recipe(config, results.groups, results.config, seed), base, in_place=True)
            processor = base[1]
        if progress:
            progress(0.1, "model ready; scoring the original comments")
        cfg = load_config(results.config)
        kw = dict(batch_size=cfg.eval.batch_size, max_length=cfg.eval.max_length or cfg.train.max_length,
                  precision=cfg.eval.precision)
        order = sorted(originals)
        orig = dict(zip(order, predict_margins(model, processor, [originals[i] for i in order], **kw)))
        if progress:
            progress(0.55, "scoring the counterfactual comments")
        cf = predict_margins(model, processor, ex["counterfactual"].tolist(), **kw)
        ex["margin"] = [float(orig[i]) for i in ex["row"]]
        ex["counterfactual margin"] = np.asarray(cf, dtype=np.float64)
        ex["flipped"] = (ex["margin"] > 0) != (ex["counterfactual margin"] > 0)
        ex["label"] = sr.labels[split][ex["row"].to_numpy()]
    table = []
    for j, g in enumerate(results.groups):
        part = ex[ex.subgroup == g] if len(ex) else ex
        d = (part["counterfactual margin"] - part["margin"]).to_numpy() if len(part) else np.zeros(0)
        flips = part[part["flipped"]] if len(part) else part
        table.append({"subgroup": g, "in subgroup": int(sr.masks[split][j].sum()), "swapped": len(part),
                      "flips": len(flips), "flip rate": len(flips) / len(part) if len(part) else float("nan"),
                      "to hostile": int((flips["counterfactual margin"] > 0).sum()) if len(flips) else 0,
                      "to not hostile": int((flips["counterfactual margin"] <= 0).sum()) if len(flips) else 0,
                      "mean Δmargin": float(d.mean()) if len(d) else float("nan"),
                      "mean |Δmargin|": float(np.abs(d).mean()) if len(d) else float("nan")})
    if progress:
        progress(1.0, "done")
    return Counterfactual(config.spec, seed, split, pd.DataFrame(table, columns=list(COUNTERFACTUAL_COLUMNS)), ex)
