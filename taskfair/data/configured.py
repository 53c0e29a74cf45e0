"""The dataset a study config names (``dataset:`` section), loaded through the right reader."""
from __future__ import annotations

import numpy as np

from ..config import DatasetConfig
from .dataset import Dataset, intersect, resolve_conflicts
from .images import load_image_folder
from .sources import load_civil_comments, load_measuring_hate_speech, load_redditbias
from .tables import load_table

__all__ = ["load_dataset"]


def load_dataset(d: DatasetConfig) -> Dataset:
    """The dataset a config names, restricted to its subgroups and optionally subsampled
    (``max_rows``: a fixed, label-stratified subsample independent of the run seeds)."""
    if d.name == "redditbias":
        data = load_redditbias(d.subgroups) if d.subgroups else load_redditbias()
    elif d.name == "mhs" and d.attribute == "gender+race":
        both = intersect(load_measuring_hate_speech(d.path, attribute="gender"),
                         load_measuring_hate_speech(d.path, attribute="race"), min_size=d.min_group_size)
        data = both.select_groups(list(d.subgroups)) if d.subgroups else both
    elif d.name == "mhs":
        data = load_measuring_hate_speech(d.path, attribute=d.attribute, subgroups=d.subgroups)
    elif d.name == "civil_comments":
        kw = {"subgroups": d.subgroups} if d.subgroups else {}
        data = load_civil_comments(d.path, **kw)
    elif d.name == "image_folder":
        data = load_image_folder(d.path, image_root=d.image_root, image_column=d.image_column,
                                 label_column=d.label_column, group_column=d.group_column,
                                 group_columns=d.group_columns, group_separator=d.group_separator,
                                 groups=d.subgroups, label_threshold=d.label_threshold)
    else:
        data = load_table(d.path, text_column=d.text_column, label_column=d.label_column,
                          group_column=d.group_column, group_columns=d.group_columns,
                          group_separator=d.group_separator, groups=d.subgroups,
                          label_threshold=d.label_threshold)
    data = resolve_conflicts(data, d.conflicting_duplicates)
    if d.max_rows is not None and len(data) > d.max_rows:
        # a fixed subsample (independent of the run seeds), stratified by label
        rng = np.random.default_rng(0)
        keep = []
        for label in (0, 1):
            idx = np.flatnonzero(data.labels == label)
            keep.append(rng.choice(idx, size=int(round(d.max_rows * len(idx) / len(data))), replace=False))
        sub = data.subset(np.sort(np.concatenate(keep)))
        dropped = dict(sub.dropped)
        dropped[f"subsampled to dataset.max_rows={d.max_rows}"] = len(data) - len(sub)
        data = Dataset(sub.name, sub.texts, sub.labels, sub.membership, sub.groups, dropped, sub.notes)
    return data
