"""Which test examples change their prediction between two configurations, by subgroup and
direction: newly flagged (0→1), no longer flagged (1→0), right→wrong, wrong→right."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..metrics.fairness import ALL
from ..store.results import RunResults
from .configurations import Variant, parse_variant
from .margins import config_margins

__all__ = ["ExampleDiff", "example_diff", "DIRECTIONS"]

DIRECTIONS = ("newly flagged", "no longer flagged", "right→wrong", "wrong→right")


@dataclass(frozen=True)
class ExampleDiff:
    a: Variant
    b: Variant
    seed: int
    split: str
    estimated: tuple[bool, bool]
    examples: pd.DataFrame      # one row per example whose prediction changed
    counts: pd.DataFrame        # group × direction counts (and the group size)

    def summary(self) -> str:
        n = len(self.examples)
        total = int(self.counts.loc[self.counts.group == ALL, "n"].iloc[0])
        parts = [f"{d}: {int(self.counts.loc[self.counts.group == ALL, d].iloc[0])}" for d in DIRECTIONS]
        est = [c.label for c, e in zip((self.a, self.b), self.estimated) if e]
        note = f" ({' and '.join(est)} estimated, not run)" if est else ""
        return (f"{self.a.label} → {self.b.label}, seed {self.seed}, {self.split}: {n} of {total} "
                f"predictions change{note}; " + "; ".join(parts))


def example_diff(results: RunResults, a: str | Variant, b: str | Variant, *, seed: int | None = None,
                 split: str = "test", exact: bool = False) -> ExampleDiff:
    """Compare the predictions of configurations ``a`` and ``b`` (strings as in
    :mod:`taskfair.configs`) on one seed's ``split``."""
    seed = next(iter(results.seeds)) if seed is None else seed
    ca = parse_variant(a, results.groups) if isinstance(a, str) else a
    cb = parse_variant(b, results.groups) if isinstance(b, str) else b
    ma, ea = config_margins(results, ca, seed, split, exact=exact)
    mb, eb = config_margins(results, cb, seed, split, exact=exact)
    sr = results.seeds[seed]
    labels, masks = sr.labels[split], sr.masks[split]
    pa, pb = ma > 0, mb > 0
    changed = pa != pb
    flag = np.where(~pa & pb, DIRECTIONS[0], np.where(pa & ~pb, DIRECTIONS[1], ""))
    right_a, right_b = pa == labels.astype(bool), pb == labels.astype(bool)
    correctness = np.where(right_a & ~right_b, DIRECTIONS[2], np.where(~right_a & right_b, DIRECTIONS[3], ""))
    rows = sr.index[split]
    groups = np.array(results.groups)
    member = masks.T  # [N, G]
    sel = np.flatnonzero(changed)
    examples = pd.DataFrame({
        "example": rows[sel],
        "text": results.data["text"].to_numpy()[rows[sel]],
        "label": labels[sel].astype(int),
        "subgroups": [", ".join(groups[member[i]]) for i in sel],
        f"margin {ca.label}": ma[sel], f"margin {cb.label}": mb[sel],
        "flag change": flag[sel], "correctness change": correctness[sel],
    })
    counts = []
    for name, m in [(ALL, np.ones(len(labels), dtype=bool))] + [(g, masks[j]) for j, g in enumerate(groups)]:
        row = {"group": name, "n": int(m.sum())}
        for d, arr in ((DIRECTIONS[0], flag), (DIRECTIONS[1], flag), (DIRECTIONS[2], correctness),
                       (DIRECTIONS[3], correctness)):
            row[d] = int((m & (arr == d)).sum())
        row["changed"] = int((m & changed).sum())
        row["changed %"] = 100.0 * row["changed"] / row["n"] if row["n"] else float("nan")
        counts.append(row)
    return ExampleDiff(ca, cb, seed, split, (ea, eb), examples, pd.DataFrame(counts))
