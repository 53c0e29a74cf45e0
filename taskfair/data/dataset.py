"""The data model: texts (or image paths), binary labels and a boolean subgroup membership
matrix ``[n_examples, n_groups]`` (a text can belong to several subgroups), and seeded splits."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["DataError", "Dataset", "Splits", "split_dataset", "intersect"]


class DataError(ValueError):
    """Bad input data: the message says what is wrong, where, and how to fix it."""


@dataclass(frozen=True)
class Dataset:
    """Texts, binary labels and a boolean membership matrix ``[n, n_groups]``.

    ``dropped`` counts the rows removed while cleaning, by reason.
    """

    name: str
    texts: tuple[str, ...]
    labels: np.ndarray
    membership: np.ndarray
    groups: tuple[str, ...]
    dropped: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.texts)
        if self.labels.shape != (n,):
            raise DataError(f"{self.name}: labels have shape {self.labels.shape}, expected ({n},)")
        if self.membership.shape != (n, len(self.groups)):
            raise DataError(
                f"{self.name}: membership has shape {self.membership.shape}, "
                f"expected ({n}, {len(self.groups)}) for groups {list(self.groups)}"
            )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def masks(self) -> np.ndarray:
        """Group masks ``[n_groups, n]``, the layout the fairness metrics take."""
        return np.ascontiguousarray(self.membership.T)

    def subset(self, index: Sequence[int] | np.ndarray, *, name: str | None = None) -> "Dataset":
        index = np.asarray(index, dtype=np.int64)
        return Dataset(
            name=name or self.name,
            texts=tuple(self.texts[i] for i in index),
            labels=self.labels[index],
            membership=self.membership[index],
            groups=self.groups,
            dropped=dict(self.dropped),
            notes=self.notes,
        )

    def group(self, name: str) -> "Dataset":
        """The rows that belong to subgroup ``name``."""
        self._check_groups([name])
        return self.subset(np.flatnonzero(self.membership[:, self.groups.index(name)]),
                           name=f"{self.name}[{name}]")

    def select_groups(self, groups: Iterable[str]) -> "Dataset":
        """Keep only the named subgroups (columns) and the rows that belong to at least one."""
        groups = list(groups)
        self._check_groups(groups)
        cols = [self.groups.index(g) for g in groups]
        member = self.membership[:, cols]
        rows = np.flatnonzero(member.any(axis=1))
        dropped = dict(self.dropped)
        if len(rows) < len(self):
            dropped["in none of the selected groups"] = len(self) - len(rows)
        return Dataset(self.name, tuple(self.texts[i] for i in rows), self.labels[rows],
                       member[rows], tuple(groups), dropped, self.notes)

    def _check_groups(self, groups: Iterable[str]) -> None:
        unknown = [g for g in groups if g not in self.groups]
        if unknown:
            raise DataError(f"{self.name}: unknown subgroup(s) {unknown}; "
                            f"this dataset has {list(self.groups)}")

    def group_sizes(self) -> pd.DataFrame:
        """Rows and positives per subgroup."""
        m = self.membership
        return pd.DataFrame({
            "group": list(self.groups),
            "rows": m.sum(axis=0).astype(int),
            "positives": (m & (self.labels[:, None] == 1)).sum(axis=0).astype(int),
        })

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame({"text": list(self.texts), "label": self.labels})
        for j, g in enumerate(self.groups):
            df[g] = self.membership[:, j]
        return df

    def report(self) -> str:
        """One line per cleaning step: how many rows were dropped and why."""
        lines = [f"{self.name}: {len(self)} rows, {int(self.labels.sum())} positive, "
                 f"groups {dict(zip(self.groups, self.membership.sum(axis=0).tolist()))}"]
        lines += [f"  dropped {n} rows: {why}" for why, n in self.dropped.items() if n]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


CONFLICT_POLICIES = ("keep", "first", "drop")


def resolve_conflicts(data: Dataset, policy: str = "keep") -> Dataset:
    """Texts that occur more than once (equal up to case and spacing) with both labels: reported
    in the dataset's notes, and kept (``keep``), reduced to the rows that agree with the first
    one's label (``first``), or dropped altogether (``drop``). Duplicates that agree are untouched
    (they always land in one split)."""
    if policy not in CONFLICT_POLICIES:
        raise DataError(f"dataset.conflicting_duplicates must be one of {list(CONFLICT_POLICIES)}, got {policy!r}")
    if len(data) == 0:
        return data
    key, _ = pd.factorize(pd.Series(data.texts).map(_text_key))
    labels = data.labels.astype(np.int64)
    lo = np.full(key.max() + 1, 2)
    hi = np.full(key.max() + 1, -1)
    np.minimum.at(lo, key, labels)
    np.maximum.at(hi, key, labels)
    conflicted = lo != hi
    rows = conflicted[key]
    if not rows.any():
        return data
    n_texts, n_rows = int(conflicted.sum()), int(rows.sum())
    what = f"{n_texts} text(s) appear with both labels ({n_rows} rows)"
    if policy == "keep":
        note = (f"{what}; all kept, so the model sees both labels for them. Set "
                "dataset.conflicting_duplicates: first (keep the first row's label) or drop (drop them)")
        return Dataset(data.name, data.texts, data.labels, data.membership, data.groups, data.dropped,
                       data.notes + (note,))
    if policy == "first":
        first_label = labels[np.unique(key, return_index=True)[1]]  # factorize numbers keys 0…m-1
        drop = rows & (labels != first_label[key])
        reason = "duplicate text whose label differs from its first row's (dataset.conflicting_duplicates: first)"
    else:
        drop = rows
        reason = "text that appears with both labels (dataset.conflicting_duplicates: drop)"
    keep = np.flatnonzero(~drop)
    sub = data.subset(keep)
    dropped = dict(data.dropped)
    dropped[reason] = int(drop.sum())
    return Dataset(sub.name, sub.texts, sub.labels, sub.membership, sub.groups, dropped,
                   data.notes + (f"{what}; resolved by dataset.conflicting_duplicates: {policy}",))


@dataclass(frozen=True)
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset
    # each split's row positions in the dataset it was cut from (exact duplicate texts make
    # positions impossible to recover from the texts alone)
    index: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __iter__(self):
        return iter((("train", self.train), ("val", self.val), ("test", self.test)))


# --------------------------------------------------------------------------- splits

def _text_key(text: str) -> str:
    return " ".join(str(text).lower().split())


def split_dataset(
    data: Dataset,
    *,
    seed: int,
    test_size: float = 0.2,
    val_size: float = 0.1,
    require_groups: bool = True,
) -> Splits:
    """Seeded train/validation/test split, stratified by label.

    As in the paper, ``test_size`` of the rows form the test set for this seed; ``val_size`` of
    the remaining training rows are carved out for choosing λ. Texts that are equal up to case
    and whitespace always land in the same split (no train/test leakage through duplicates). With ``require_groups`` every
    subgroup must have rows in every split, else a :class:`DataError` names the group.
    """
    for nm, v in (("test_size", test_size), ("val_size", val_size)):
        if not 0.0 < v < 1.0:
            raise DataError(f"{nm} must be in (0, 1), got {v}")
    rng = np.random.default_rng(seed)
    # rows whose texts are equal up to case and spacing are one unit, so a comment can never be
    # in both the training and the test data; a unit takes the label of its first row
    key, _ = pd.factorize(pd.Series(data.texts).map(_text_key))
    first = np.unique(key, return_index=True)[1]
    unit_labels = data.labels[first]
    train, val, test = [], [], []
    for label in (0, 1):
        units = rng.permutation(np.flatnonzero(unit_labels == label))
        n_test = int(round(len(units) * test_size))
        n_val = int(round((len(units) - n_test) * val_size))
        test.append(units[:n_test])
        val.append(units[n_test:n_test + n_val])
        train.append(units[n_test + n_val:])
    parts = [np.flatnonzero(np.isin(key, np.concatenate(p))) for p in (train, val, test)]
    splits = Splits(*(data.subset(p, name=f"{data.name}/{nm}")
                      for p, nm in zip(parts, ("train", "val", "test"))),
                    index=dict(zip(("train", "val", "test"), parts)))
    if require_groups:
        for split_name, part in splits:
            empty = [g for g, n in zip(data.groups, part.membership.sum(axis=0)) if n == 0]
            if empty:
                raise DataError(
                    f"subgroup(s) {empty} have no rows in the {split_name} split (seed {seed}, "
                    f"{len(part)} rows). Drop those subgroups or use a larger dataset/split.")
    return splits


def intersect(a: Dataset, b: Dataset, *, min_size: int = 0, name: str | None = None) -> Dataset:
    """Intersectional subgroups of two annotations of the same texts (e.g. Measuring Hate Speech
    by gender and by race): rows present in both, groups ``"<ga>-<gb>"`` (file-name safe) for every pair, and
    only those with at least ``min_size`` rows (the ones dropped, with their sizes, are listed in
    ``notes``). A text labelled differently in the two is dropped."""
    if min_size < 0:
        raise DataError(f"min_size must be ≥ 0, got {min_size}")
    pos_b = {t: i for i, t in enumerate(b.texts)}
    rows_a, rows_b, conflict = [], [], 0
    for i, t in enumerate(a.texts):
        j = pos_b.get(t)
        if j is None:
            continue
        if a.labels[i] != b.labels[j]:
            conflict += 1
            continue
        rows_a.append(i)
        rows_b.append(j)
    if not rows_a:
        raise DataError(f"{a.name} and {b.name} share no texts; intersections need the same rows annotated twice")
    ma, mb = a.membership[rows_a], b.membership[rows_b]
    names, cols, small = [], [], []
    for i, ga in enumerate(a.groups):
        for j, gb in enumerate(b.groups):
            col = ma[:, i] & mb[:, j]
            n = int(col.sum())
            if n >= max(min_size, 1):
                names.append(f"{ga}-{gb}")
                cols.append(col)
            else:
                small.append(f"{ga}-{gb} ({n} rows)")
    if not names:
        raise DataError(f"no intersection of {list(a.groups)} × {list(b.groups)} has {min_size} rows; "
                        "lower dataset.min_group_size")
    membership = np.stack(cols, axis=1)
    keep = membership.any(axis=1)
    dropped = {f"in {a.name} only": len(a) - len(rows_a) - conflict, "label differs between the two": conflict,
               "in no kept intersection": int((~keep).sum())}
    notes = ((f"intersections below min_size={min_size} left out: " + ", ".join(small),) if small else ())
    return Dataset(name or f"{a.name} × {b.name}", tuple(a.texts[i] for i in np.asarray(rows_a)[keep]),
                   a.labels[np.asarray(rows_a)[keep]], membership[keep], tuple(names), dropped, notes)
