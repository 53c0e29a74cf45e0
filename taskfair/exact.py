"""Exact evaluation of a per-subgroup merge ``θ0 + Σ λ_g τ_g``: rebuild θ0, merge the stored
subgroup vectors, run the model. On a GPU when one is present."""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch

from .config import load_config
from .inference import best_device, predict_margins
from .merge import FlatMerger
from .store import Run, StoreError
from .study import load_base
from .taskvector import model_weights, weights_sha256

__all__ = ["load_theta0", "merged_model", "exact_margins", "run_groups"]


def load_theta0(run: Run, seed: int):
    """θ0 of ``seed`` rebuilt from the run's config, checked against the hash stored at training."""
    cfg = load_config(run.config)
    model, tok = load_base(cfg, seed)
    stored = run.load_json(f"seed{seed}/base.json")["sha256"]
    actual = weights_sha256(model_weights(model))
    if actual != stored:
        raise StoreError(f"θ0 of seed {seed} rebuilt from {cfg.model!r} has sha256 {actual[:12]}…, "
                         f"but the run was trained from {stored[:12]}…: the model files changed")
    model.eval()
    return model, tok


def merged_model(run: Run, seed: int, lams: Sequence[float], base, *, method: str = "task_arithmetic",
                 **params) -> torch.nn.Module:
    """A new model (a copy of ``base[0]``) with weights ``θ0 + merge(τ_g; λ_g)`` over the run's
    subgroups: ``θ0 + Σ λ_g τ_g`` for task arithmetic, or another method of
    :data:`taskfair.merge.MERGE_METHODS` with its parameters."""
    groups = run_groups(run)
    if len(lams) != len(groups):
        raise ValueError(f"need {len(groups)} coefficients ({groups}), got {len(lams)}")
    model = copy.deepcopy(base[0]).cpu().float()
    stored = run.load_json(f"seed{seed}/base.json")["sha256"]
    vectors = [run.load_task_vector(f"seed{seed}/tv/{g}.safetensors", expected_base_sha256=stored)
               for g in groups]
    if method == "task_arithmetic" and not params:
        FlatMerger(model, vectors).set(list(map(float, lams)))
    else:
        from .merge import load_weights_into, merge
        load_weights_into(model, merge(model_weights(model), vectors, list(map(float, lams)),
                                       method=method, **params))
    return model


def exact_margins(run: Run, seed: int, lams: Sequence[float], base, *, splits=("test",),
                  on_progress: Callable[[float], None] | None = None) -> dict[str, np.ndarray]:
    """Margins of the merged model on the seed's splits (``base`` is ``(θ0 model, tokenizer)``)."""
    cfg = load_config(run.config)
    model = merged_model(run, seed, lams, base).to(best_device())
    data = run.load_table("data/dataset.parquet")
    idx = run.load_json(f"seed{seed}/splits.json")
    out = {}
    for i, split in enumerate(splits):
        texts = data["text"].to_numpy()[np.asarray(idx[split])].tolist()
        out[split] = predict_margins(model, base[1], texts, batch_size=cfg.eval.batch_size,
                                     max_length=cfg.eval.max_length or cfg.train.max_length,
                                     precision=cfg.eval.precision)
        if on_progress:
            on_progress((i + 1) / len(splits))
    return out


def run_groups(run: Run) -> list[str]:
    """The run's subgroups (those with stored task vectors), in the dataset's column order."""
    cfg = run.config
    prefix = "seed{}/tv/".format(cfg["seeds"][0])
    names = [n.removeprefix(prefix).removesuffix(".safetensors") for n in run.manifest["files"]
             if n.startswith(prefix)]
    data_groups = run.load_table("data/dataset.parquet").columns
    return [g for g in data_groups if g in names and g not in ("text", "label")]
