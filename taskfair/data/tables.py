"""Any table as a dataset: CSV, TSV, parquet or JSONL with a text (or image) column, a 0/1 label
(or a score and a threshold) and group membership in one column (several groups per cell) or one
column per group. Bad rows fail with the row numbers and a fix."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .dataset import DataError, Dataset

__all__ = ["dataset_from_frame", "load_table", "read_table"]

DELIMITERS = ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'"))
# one cell this long is a parsing accident (an unclosed quote swallows the rest of the file), never a
# comment; the tokenizer would take minutes and gigabytes on it before truncating to max_length
MAX_TEXT_CHARS = 100_000


def _fail_rows(source: str, what: str, rows: np.ndarray, fix: str) -> None:
    shown = ", ".join(str(r) for r in rows[:8]) + (" …" if len(rows) > 8 else "")
    raise DataError(f"{source}: {what} in {len(rows)} row(s) (row {shown}). {fix}")


def _require_columns(df: pd.DataFrame, columns: Iterable[str], source: str, role: str) -> None:
    columns = list(columns)
    twice = [c for c in columns if c in df.attrs.get("duplicate_columns", ())]
    if twice:
        raise DataError(f"{source}: the {role} column {twice[0]!r} appears more than once in the header; "
                        "rename or drop the extra one, so it is clear which one is meant")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        hint = ""
        if len(df.columns) == 1:   # a whole header read as one column: another delimiter
            header = str(df.columns[0])
            seen = [name for sep, name in DELIMITERS if sep in header]
            if seen:
                hint = (f" The header was read as one column: the file looks separated by {seen[0]}, not "
                        "commas; save it as CSV with commas (or as .tsv if it uses tabs).")
        raise DataError(
            f"{source}: missing {role} column(s) {missing}; available columns: {list(df.columns)}. "
            f"Name the right column(s) or rename them in the file.{hint}"
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
    long = np.flatnonzero((stripped.str.len() > MAX_TEXT_CHARS).to_numpy())
    if len(long):
        _fail_rows(source, f"text column '{column}' holds texts over {MAX_TEXT_CHARS:,} characters "
                   f"(the longest {int(stripped.str.len().max()):,})", long,
                   "Often an unclosed quote in a CSV joins many rows into one cell; fix the quoting, "
                   "or cut the texts (the model reads only its first train.max_length tokens).")
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
    empty_note = None
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
        glued = [g for g in found if any(sep in g for sep in "|;,/" if sep != group_separator)]
        if glued:
            seps = sorted({sep for g in glued for sep in "|;,/" if sep in g and sep != group_separator})
            raise DataError(f"{name}: group cells such as {glued[0]!r} look like several groups joined by "
                            f"{seps[0]!r}, but dataset.group_separator is {group_separator!r}. Set "
                            f"--set dataset.group_separator='{seps[0]}' (or rename the group if it is one).")
        folded: dict[str, str] = {}
        for g in found:
            if folded.setdefault(g.casefold(), g) != g:
                raise DataError(f"{name}: the group column '{group_column}' has {folded[g.casefold()]!r} and {g!r}, "
                                "which differ only by case; write each group one way in the data (they would "
                                "be two subgroups, and one file name on a case-insensitive disk)")
        no_group = sum(1 for lst in lists if not lst)
        if no_group:
            empty_note = (f"{no_group} row(s) have an empty group cell ('{group_column}'): they belong to no "
                          "subgroup and count only in each subgroup's rest")
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
    return Dataset(name, texts, labels, member, found, dict(dropped or {}), (empty_note,) if empty_note else ())


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as exc:   # pyarrow's errors have no common base worth naming
            raise DataError(f"data file {path} is not a readable parquet file ({type(exc).__name__}: "
                            f"{str(exc)[:160]}); if it is text, name it .csv or .tsv") from None
    if suffix in (".csv", ".tsv", ".txt"):
        if path.stat().st_size == 0:
            raise DataError(f"data file {path} is empty (0 bytes); it needs a header row and data rows")
        note = _non_utf8_note(path)
        try:
            df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", encoding_errors="replace")
        except pd.errors.EmptyDataError:
            raise DataError(f"data file {path} holds no columns; it needs a header row and data rows") from None
        except pd.errors.ParserError as exc:
            raise DataError(f"data file {path} is not valid {'TSV' if suffix == '.tsv' else 'CSV'}: {exc}") from None
        names = _header(path, "\t" if suffix == ".tsv" else ",")
        df.attrs["duplicate_columns"] = tuple(sorted({c for c in names if names.count(c) > 1}))
        if df.empty:
            raise DataError(f"data file {path} has a header ({', '.join(map(str, df.columns))}) but no data rows")
        if note:
            df.attrs["notes"] = [note]
        return df
    if suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=suffix == ".jsonl")
    raise DataError(f"{path}: unsupported file type '{suffix}'; use .csv, .tsv, .parquet or .jsonl")


def _header(path: Path, sep: str) -> list[str]:
    """The header row's names as written (pandas renames a repeated ``label`` to ``label.1``)."""
    import csv
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        return [c.strip() for c in next(csv.reader(f, delimiter=sep), [])]


def _non_utf8_note(path: Path) -> str | None:
    """A note when the file is not valid UTF-8: its bad bytes are read as U+FFFD."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
    bad = raw.decode("utf-8", errors="replace").count("\ufffd") - raw.decode("utf-8", errors="ignore").count("\ufffd")
    return (f"{path.name}: {bad} byte sequence(s) that are not UTF-8 (first on line {line}) were read as U+FFFD; "
            "rows kept. Save the file as UTF-8 to keep those characters")


def load_table(path: str | Path, **kwargs) -> Dataset:
    """Any CSV/TSV/parquet/JSONL file; keyword arguments as in :func:`dataset_from_frame`."""
    kwargs.setdefault("name", Path(path).stem)
    df = read_table(path)
    data = dataset_from_frame(df, **kwargs)
    notes = tuple(df.attrs.get("notes", ()))
    if notes:
        data = Dataset(data.name, data.texts, data.labels, data.membership, data.groups, data.dropped,
                       data.notes + notes)
    return data
