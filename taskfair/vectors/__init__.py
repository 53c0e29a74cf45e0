"""Task vectors and merging: ``τ = θ_finetuned − θ0`` as a number-like object, the merge methods
of :mod:`taskfair.methods` applied tensor by tensor, the flat in-memory merger for fast λ sweeps, and the
streamed merge of sharded checkpoints larger than memory.

- :mod:`.taskvector` — :class:`TaskVector`, :func:`model_weights`, :func:`weights_sha256`
- :mod:`.merge`      — :func:`merge_tensor`, :func:`merge`, :class:`FlatMerger`
- :mod:`.streaming`  — :func:`stream_merge`, tensor by tensor from safetensors shards to shards
- :mod:`.engine`     — :class:`MergeEngine`, the one way a model is set to a merge (streamed or flat)
- :mod:`.blocks`     — :func:`assign_blocks`: tensors to blocks of layers, for layer-wise λ
"""
from .blocks import DEFAULT_BLOCKS, assign_blocks, block_names, layer_index
from .engine import BUDGET_ENV, MergeEngine, choose_mode, memory_budget
from .merge import FlatMerger, ParamLayout, inject, load_weights_into, merge, merge_tensor, uniform_merge
from .streaming import TensorSource, stream_merge
from .taskvector import TaskVector, TaskVectorMismatch, cosine_matrix, model_weights, weights_sha256

__all__ = ["TaskVector", "TaskVectorMismatch", "model_weights", "weights_sha256", "cosine_matrix",
           "ParamLayout", "FlatMerger", "merge",
           "uniform_merge", "inject", "load_weights_into", "TensorSource", "stream_merge", "merge_tensor",
           "MergeEngine", "memory_budget", "choose_mode", "BUDGET_ENV", "DEFAULT_BLOCKS", "assign_blocks",
           "block_names", "layer_index"]
