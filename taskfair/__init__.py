"""taskfair: group fairness of task arithmetic.

A task vector is ``τ = θ_finetuned − θ_base``; a merged model is ``θ = θ0 + Σ λ_i τ_i``. This
library loads hate-speech data with subgroup membership, fine-tunes classifiers, builds and merges
task vectors (text classifiers, and image classifiers on an image folder), and measures accuracy, demographic parity difference (DPD) and equalized odds
difference (EOD) per subgroup, one subgroup against the rest.
"""
__version__ = "0.1.0"

from .data import (CIVIL_COMMENTS_GROUPS, MHS_SUBGROUPS, REDDITBIAS_GROUPS, DataError, Dataset,
                   Splits, dataset_from_frame, load_civil_comments, load_measuring_hate_speech,
                   load_redditbias, load_table, split_dataset)
from .fairness import (aggregate_seeds, bootstrap_ci, fairness_table, group_rates, summary_metrics,
                       worst_subgroup)
from .images import load_image_folder, synthetic_image_folder
from .inference import best_device, encode_inputs, predict_margins
from .merge import (MERGE_METHODS, FlatMerger, ParamLayout, inject, load_weights_into, merge,
                    register_merge_method, uniform_merge)
from .models import (EMBEDDED_MODELS, ModelError, is_image_model, load_classifier, resolve_model,
                     tiny_classifier)
from .store import (ArtifactStore, Run, StoreError, load_task_vector, save_task_vector)
from .taskvector import TaskVector, TaskVectorMismatch, cosine_matrix, model_weights, weights_sha256
from .training import TrainConfig, finetune

__all__ = [
    # data
    "Dataset", "Splits", "DataError", "load_redditbias", "load_measuring_hate_speech",
    "load_civil_comments", "load_table", "dataset_from_frame", "split_dataset",
    "REDDITBIAS_GROUPS", "MHS_SUBGROUPS", "CIVIL_COMMENTS_GROUPS",
    "load_image_folder", "synthetic_image_folder",
    # models, training, inference
    "load_classifier", "resolve_model", "tiny_classifier", "EMBEDDED_MODELS", "ModelError",
    "is_image_model", "TrainConfig", "finetune", "predict_margins", "encode_inputs", "best_device",
    # task vectors and merging
    "TaskVector", "TaskVectorMismatch", "model_weights", "weights_sha256", "cosine_matrix",
    "MERGE_METHODS", "register_merge_method", "merge", "uniform_merge", "inject", "FlatMerger",
    "ParamLayout", "load_weights_into",
    # fairness
    "group_rates", "fairness_table", "summary_metrics", "bootstrap_ci", "aggregate_seeds",
    "worst_subgroup",
    # store
    "ArtifactStore", "Run", "StoreError", "save_task_vector", "load_task_vector",
]
