"""taskfair: group fairness of task arithmetic.

A task vector is ``τ = θ_finetuned − θ_base``; a merged model is ``θ = θ0 + Σ λ_i τ_i``. This
library loads hate-speech data (or images) with subgroup membership, fine-tunes classifiers,
builds and merges task vectors, and measures accuracy, demographic parity difference (DPD) and
equalized odds difference (EOD) per subgroup, one subgroup against the rest.

The packages follow the stages, each using only those above it in this list:

- ``methods``    — the merge methods, each registered with its parameters and their ranges
- ``config``     — typed, validated study configs (YAML or mapping)
- ``data``       — datasets, readers, splits
- ``models``     — loading, inference (margins), fine-tuning (full, LoRA)
- ``vectors``    — task vectors and merging (in memory, flat, streamed)
- ``metrics``    — fairness metrics vectorized over λ, frontiers, per-point tables
- ``store``      — run folders, their layout, and a finished run read back
- ``steering``   — a finished run: configurations, estimate, exact evaluation, search, diff
- ``publishing`` — export with provenance, HTML report

The pipeline that produces runs (training, the λ grid, the summary) is the ``precompute``
package beside this one; it uses only the names below.
"""
from .version import __version__

from .config import ConfigError, StudyConfig, TrainConfig, load_config
from .data import (CIVIL_COMMENTS_GROUPS, MHS_SUBGROUPS, REDDITBIAS_GROUPS, DataError, Dataset, Splits,
                   dataset_from_frame, intersect, is_image_run, load_civil_comments, load_dataset,
                   load_image_folder, load_measuring_hate_speech, load_redditbias, load_table, split_dataset,
                   synthetic_image_folder)
from .errors import StoreError
from .metrics import (ALL, HEADLINE_METRICS, TRIVIAL, aggregate_seeds, bootstrap_ci, degenerate_points, fairness_table, group_rates,
                      health_rows, holm, is_degenerate, mark_degenerate, pareto_mask, point_set, rates_table,
                      rates_with_ci, seed_mean, summary_metrics, worst_subgroup, contrast, combine, front_membership)
from .models import (EMBEDDED_MODELS, ModelError, best_device, check_model_spec, same_device, encode_inputs, finetune, finetune_lora,
                     is_image_model, load_classifier, predict_margins, resolve_model, tiny_classifier)
from .publishing import (ExportError, ProvenanceError, build_record, export_configuration, export_model,
                         html_report, read_record, recreate)
from .steering import (Variant, VariantSpecError, RemixEstimator, build_model, config_margins, confirm,
                       example_diff, exact_metrics, findings, load_theta0, merged_model,
                       parse_variant, point_sets, recipe, scaling_bound, search_coefficients, stored_configs,
                       synthetic_results, verdict_rates)
from .store import (ArtifactStore, Run, RunResults, layout, load_results, load_task_vector,
                    save_task_vector)
from .methods import MERGE_METHODS, grid_methods, method_spec, register_merge_method
from .vectors import (FlatMerger, MergeEngine, ParamLayout, TaskVector, TaskVectorMismatch, cosine_matrix, inject,
                      load_weights_into, merge, model_weights, stream_merge, uniform_merge, weights_sha256)

__all__ = [
    # config
    "StudyConfig", "TrainConfig", "ConfigError", "load_config",
    # data
    "Dataset", "Splits", "DataError", "load_redditbias", "load_measuring_hate_speech",
    "load_civil_comments", "load_table", "dataset_from_frame", "split_dataset", "intersect",
    "load_dataset", "REDDITBIAS_GROUPS", "MHS_SUBGROUPS", "CIVIL_COMMENTS_GROUPS",
    "load_image_folder", "synthetic_image_folder", "is_image_run",
    # models, training, inference
    "load_classifier", "resolve_model", "tiny_classifier", "EMBEDDED_MODELS", "ModelError",
    "is_image_model", "finetune", "finetune_lora", "predict_margins", "encode_inputs", "best_device", "same_device", "check_model_spec",
    # task vectors and merging
    "TaskVector", "TaskVectorMismatch", "model_weights", "weights_sha256", "cosine_matrix",
    "MERGE_METHODS", "register_merge_method", "method_spec", "grid_methods", "merge", "uniform_merge", "inject", "FlatMerger",
    "ParamLayout", "load_weights_into", "stream_merge", "MergeEngine",
    # fairness metrics
    "ALL", "HEADLINE_METRICS", "group_rates", "fairness_table", "summary_metrics", "bootstrap_ci", "aggregate_seeds",
    "worst_subgroup", "pareto_mask", "TRIVIAL", "degenerate_points", "health_rows", "is_degenerate",
    "mark_degenerate", "rates_table", "rates_with_ci", "seed_mean",
    # inference: paired differences with intervals
    "point_set", "contrast", "combine", "holm", "front_membership",
    # store
    "ArtifactStore", "Run", "RunResults", "StoreError", "layout", "load_results", "save_task_vector",
    "load_task_vector",
    # steering a finished run
    "Variant", "VariantSpecError", "parse_variant", "recipe", "stored_configs", "config_margins",
    "RemixEstimator", "load_theta0", "build_model", "merged_model", "exact_metrics",
    "search_coefficients", "confirm", "example_diff",
    # what the run concludes, and how sure it is
    "findings", "scaling_bound", "point_sets", "synthetic_results", "verdict_rates",
    # publishing
    "export_configuration", "export_model", "ExportError", "build_record", "read_record", "recreate",
    "ProvenanceError", "html_report",
]
