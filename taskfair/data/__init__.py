"""Data: texts (or images) with binary labels and a boolean subgroup membership matrix, the
readers that produce them, and seeded splits.

- :mod:`.dataset`    — :class:`Dataset`, :class:`Splits`, :func:`split_dataset`, :func:`intersect`
- :mod:`.tables`     — any CSV/TSV/parquet/JSONL table (:func:`load_table`, :func:`dataset_from_frame`)
- :mod:`.sources`    — RedditBias (embedded), Measuring Hate Speech, Civil Comments
- :mod:`.images`     — an image folder with a labels-and-groups CSV; a synthetic one
- :mod:`.configured` — the dataset a study config names (:func:`load_dataset`)
"""
from .configured import load_dataset
from .dataset import DataError, Dataset, Splits, intersect, split_dataset
from .images import (IMAGE_SUFFIXES, SYNTHETIC_GROUPS, is_image_run, load_image_folder, open_image,
                     synthetic_image_folder)
from .sources import (CIVIL_COMMENTS_GROUPS, MHS_SUBGROUPS, REDDITBIAS_GROUPS, load_civil_comments,
                      load_measuring_hate_speech, load_redditbias, redditbias_dir)
from .tables import dataset_from_frame, load_table, read_table

__all__ = ["DataError", "Dataset", "Splits", "split_dataset", "intersect", "dataset_from_frame",
           "load_table", "read_table", "REDDITBIAS_GROUPS", "MHS_SUBGROUPS", "CIVIL_COMMENTS_GROUPS",
           "redditbias_dir", "load_redditbias", "load_measuring_hate_speech", "load_civil_comments",
           "IMAGE_SUFFIXES", "SYNTHETIC_GROUPS", "is_image_run", "load_image_folder", "open_image",
           "synthetic_image_folder", "load_dataset"]
