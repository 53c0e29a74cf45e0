"""Exact evaluation of a configuration of a finished run: rebuild θ0, merge the stored task
vectors as the configuration's recipe says, run the model on the seed's splits, compute the
metrics. On a GPU when one is present. Every consumer (the CLI, the pages, the search, the
report, the export) goes through these functions."""
from __future__ import annotations

import copy
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..config import load_config
from ..errors import StoreError
from ..metrics.tables import rates_with_ci
from ..models.inference import best_device, predict_margins
from ..models.loading import load_classifier
from ..models.stored import load_classifier_with_weights
from ..store.results import RunResults
from ..store.run import Run
from ..vectors.engine import MergeEngine
from ..vectors.taskvector import model_weights, weights_sha256
from .configurations import Variant, VariantSpecError, Recipe, parse_variant, recipe

__all__ = ["load_theta0", "build_model", "merged_model", "model_margins",
           "exact_metrics"]

Progress = Callable[[float], None]


def load_theta0(run: Run, seed: int, *, dtype: torch.dtype | None = None):
    """θ0 of ``seed`` (the pretrained model with its head initialised under ``seed``), checked
    against the hash stored at training, in the run's ``model_dtype`` (or ``dtype``).

    When the run stored θ0 (runs whose λ grid streamed it), the weights are read from there with
    positioned reads into a model built without weights: one model in memory. Otherwise θ0 is
    rebuilt from the run's model spec, as at training."""
    from ..vectors.streaming import TensorSource
    from ..vectors.taskvector import WeightsHasher

    cfg = load_config(run.config)
    stored = run.base_sha256(seed)
    path = run.theta0_path(seed, verify=False)  # the weights' hash is checked while reading
    if path is not None:
        hasher = WeightsHasher()
        source = TensorSource(path)
        try:
            got = load_classifier_with_weights(cfg.model, source, dtype=dtype or cfg.torch_dtype,
                                               trust_remote_code=cfg.trust_remote_code, hasher=hasher)
        finally:
            source.close()
        if got is not None:
            if hasher.hexdigest() == stored:
                return got
            import warnings
            warnings.warn(f"θ0 of seed {seed} stored in {path} has sha256 {hasher.hexdigest()[:12]}…, not the "
                          f"{stored[:12]}… the run was trained from: the stored copy does not match; rebuilding "
                          f"θ0 from {cfg.model!r} instead", RuntimeWarning, stacklevel=2)
            del got
    model, tok = load_classifier(cfg.model, head_seed=seed, dtype=cfg.torch_dtype,
                                 trust_remote_code=cfg.trust_remote_code)
    actual = weights_sha256(model_weights(model))
    if actual != stored:
        raise StoreError(f"θ0 of seed {seed} rebuilt from {cfg.model!r} has sha256 {actual[:12]}…, "
                         f"but the run was trained from {stored[:12]}…: the model files changed")
    if dtype is not None and dtype != cfg.torch_dtype:
        model.to(dtype)
    model.eval()
    return model, tok


def build_model(run: Run, seed: int, how: Recipe, base, *, in_place: bool = False) -> torch.nn.Module:
    """A model with weights ``θ0 + merge(τ_v; λ_v)`` over the stored vectors the recipe names,
    merged by the engine tensor by tensor from the vector files, on the GPU when there is one.
    By default a copy of ``base[0]`` (which is never modified); with ``in_place`` the merge goes
    into ``base[0]`` itself (a caller that rebuilt θ0 for this merge alone): one model in memory
    plus a few tensors."""
    model = base[0] if in_place else copy.deepcopy(base[0])
    model = model.to(best_device())
    if not how.vectors:
        return model
    paths = [run.task_vector_path(seed, v) for v in how.vectors]
    if how.per_block:  # layer-wise: each tensor takes its block's coefficients
        per_tensor = _per_tensor(model, how)
        with MergeEngine(model, paths, mode="stream") as engine:
            engine.set([float(c) for c in how.coefficients], per_tensor=per_tensor)
        return model
    with MergeEngine(model, paths) as engine:
        engine.set([float(c) for c in how.coefficients], method=how.method, **dict(how.params))
    return model


def _per_tensor(model: torch.nn.Module, how: Recipe) -> dict[str, list[float]]:
    from ..vectors.blocks import assign_blocks
    names = [n for n, p in model.named_parameters() if p.is_floating_point()]
    block_of, blocks = assign_blocks(names, how.bounds or None)
    n = len(how.per_block[0])
    if n != len(blocks):
        raise VariantSpecError(f"this model's blocks are {', '.join(blocks)}: give {len(blocks)} λ per subgroup, got {n}")
    return {name: [row[blocks.index(block_of[name])] for row in how.per_block] for name in names}


def merged_model(run: Run, seed: int, lams: Sequence[float], base, *, method: str = "task_arithmetic",
                 **params) -> torch.nn.Module:
    """A new model with weights ``θ0 + merge(τ_g; λ_g)`` over the run's subgroups: ``θ0 + Σ λ_g τ_g``
    for task arithmetic, or another method of :data:`taskfair.methods.MERGE_METHODS`."""
    groups = run.groups()
    if len(lams) != len(groups):
        raise ValueError(f"need {len(groups)} coefficients ({groups}), got {len(lams)}")
    return build_model(run, seed, Recipe(tuple(groups), tuple(map(float, lams)), method,
                                         tuple(params.items())), base)


def model_margins(run: Run, seed: int, model: torch.nn.Module, processor, *, splits=("test",),
                  on_progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Margins of ``model`` on the seed's splits, with the run's evaluation settings."""
    cfg = load_config(run.config)
    model = model.to(best_device())
    texts = run.dataset()["text"].to_numpy()
    idx = run.split_indices(seed)
    out = {}
    for i, split in enumerate(splits):
        out[split] = predict_margins(model, processor, texts[np.asarray(idx[split])].tolist(),
                                     batch_size=cfg.eval.batch_size,
                                     max_length=cfg.eval.max_length or cfg.train.max_length,
                                     precision=cfg.eval.precision)
        if on_progress:
            on_progress((i + 1) / len(splits))
    return out


def exact_metrics(results: RunResults, config: Variant | str | Sequence[float], *,
                  splits: Sequence[str] = ("test",), n_boot: int = 0,
                  bases: Mapping[int, tuple] | None = None,
                  progress: Callable[[float, str], None] | None = None,
                  keep_margins: dict | None = None) -> pd.DataFrame:
    """Per-group and summary metrics of a configuration (a configuration string, a
    :class:`Variant`, or one λ per subgroup) merged and run exactly, for every seed and split:
    a tidy frame ``seed, split, group, metric, value, note`` (and ``low``/``high``, the 95%
    bootstrap interval over the examples, when ``n_boot``). ``bases`` (seed -> θ0) are reused
    when given, else rebuilt. ``keep_margins``, a dict, receives each seed's margins by split."""
    if isinstance(config, str):
        config = parse_variant(config, results.groups)
    elif not isinstance(config, Variant):
        config = Variant("remix", lams=tuple(float(v) for v in config))
        parse_variant(config.spec, results.groups)  # checks the count and the values
    run = results.open_run()
    frames = []
    seeds = list(results.seeds)
    for i, seed in enumerate(seeds):
        given = (bases or {}).get(seed)
        base = given or load_theta0(run, seed)
        model = build_model(run, seed, recipe(config, results.groups, results.config, seed), base,
                            in_place=given is None)
        margins = model_margins(run, seed, model, base[1], splits=splits)
        if keep_margins is not None:
            keep_margins[seed] = margins
        del model
        sr = results.seeds[seed]
        for split in splits:
            t = rates_with_ci(margins[split] > 0, sr.labels[split], sr.masks[split], results.groups,
                              n_boot=n_boot, seed=seed)
            frames.append(t.assign(seed=seed, split=split))
        if progress is not None:
            progress((i + 1) / len(seeds), f"seed {seed} evaluated")
    return pd.concat(frames, ignore_index=True)
