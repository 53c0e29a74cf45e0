"""The jobs of one seed: train FFT, LoRA and one model per subgroup from the seed's θ0 and store
their task vectors; then evaluate every planned point of the λ grid and store its margins.
Each job is recorded in the run's manifest when it finishes, so a rerun skips it."""
from __future__ import annotations

import copy
import dataclasses
import json
import time
from typing import Callable

import numpy as np
import torch

from taskfair import (Dataset, MergeEngine, Run, Splits, StudyConfig, encode_inputs, finetune, finetune_lora,
                      model_weights, predict_margins)
from taskfair.models.inference import compiled_for_inference
from taskfair.store import layout
from taskfair.vectors import TensorSource, choose_mode

from .plan import REFERENCE, Point, plan_points

__all__ = ["SeedContext", "train_jobs", "evaluate_grid"]

Log = Callable[[str], None]


@dataclasses.dataclass
class SeedContext:
    """What every job of a seed shares."""

    cfg: StudyConfig
    run: Run
    data: Dataset
    splits: Splits
    seed: int
    base_model: torch.nn.Module       # θ0, on ``device``; not modified until a streamed λ grid
                                      # (the seed's last step) merges into it
    tokenizer: object
    theta0: dict[str, torch.Tensor]   # θ0 on the CPU (views of base_model's weights on a CPU host)
    base_sha256: str
    device: torch.device
    sync: object                      # pipeline._Sync
    timings: dict[str, float]
    progress: bool
    skipped: int = 0
    encoded: dict = dataclasses.field(default_factory=dict)   # split -> its inputs, tokenized once
    landed: Callable[[str], None] = lambda job: None          # told each evaluation job as it lands

    @property
    def max_length(self) -> int:
        return self.cfg.eval.max_length or self.cfg.train.max_length


SHARD_ENV = "TASKFAIR_VECTOR_SHARD"


def vector_shard_bytes() -> int:
    """The largest shard of a stored task vector: ``TASKFAIR_VECTOR_SHARD`` (``2G``, ``512M``) or
    the store's default of 2 GB."""
    import os

    from taskfair.store.files import SHARD_BYTES
    from taskfair.vectors.engine import parse_bytes
    raw = os.environ.get(SHARD_ENV)
    return parse_bytes(raw, where=SHARD_ENV) if raw else SHARD_BYTES


def train_jobs(ctx: SeedContext) -> None:
    """FFT, LoRA and one fine-tune per subgroup (every process trains under ``accelerate
    launch``; the main process stores the vectors)."""
    cfg, sp = ctx.cfg, ctx.splits
    train_cfg = dataclasses.replace(cfg.train, seed=ctx.seed)
    sub_cfg = dataclasses.replace(cfg.subgroup_train or cfg.train, seed=ctx.seed)
    _train(ctx, "fft", sp.train.texts, sp.train.labels, train_cfg)
    _train(ctx, "lora", sp.train.texts, sp.train.labels, train_cfg, kind="lora")
    for g in ctx.data.groups:
        part = sp.train.group(g)
        _train(ctx, g, part.texts, part.labels, sub_cfg)


def _train(ctx: SeedContext, name: str, texts, labels, tcfg, kind: str = "full") -> None:
    run, seed, cfg = ctx.run, ctx.seed, ctx.cfg
    job = layout.train_job(seed, name)
    if run.is_done(job):
        ctx.skipped += 1
        return
    t = time.perf_counter()
    model = copy.deepcopy(ctx.base_model)
    desc = f"seed {seed} · train {name} ({len(texts)} rows)"
    if kind == "lora":
        lc = cfg.lora
        lcfg = tcfg if lc.learning_rate is None else dataclasses.replace(tcfg, learning_rate=lc.learning_rate)
        model = finetune_lora(model, ctx.tokenizer, texts, labels, lcfg, r=lc.r, alpha=lc.alpha,
                              dropout=lc.dropout, target_modules=lc.target_modules,
                              progress=ctx.progress, description=desc)
    else:
        finetune(model, ctx.tokenizer, texts, labels, tcfg, progress=ctx.progress, description=desc)
    if not ctx.sync.main:
        del model
        ctx.sync.wait(run)
        return
    # τ = θ_ft − θ0 computed and written tensor by tensor (a shard at a time), in the model's dtype
    outputs = run.save_vector_between(seed, name, ctx.theta0, model_weights(model), base_sha256=ctx.base_sha256,
                                      base_model=cfg.model, shard_bytes=vector_shard_bytes())
    if kind == "lora":  # LoRA is not one of the merge axes: evaluate it here
        margins = predict_splits(ctx, model, ctx.progress, f"seed {seed} · eval lora")
        outputs.append(_save_points(ctx, "lora", [Point("lora", "", float("nan"), ())], margins))
    run.mark_done(job, outputs)
    if kind == "lora":
        ctx.landed(job)
    if name == "fft":
        _evaluate_reference(ctx, model)
    del model
    ctx.sync.wait(run)
    ctx.timings["train"] += time.perf_counter() - t


def _evaluate_reference(ctx: SeedContext, fft_model) -> None:
    """θ0 and FFT, evaluated while FFT is still in memory: the first comparison a reader sees,
    long before the grid runs. (If this is interrupted, the grid evaluates them later.)"""
    job = layout.eval_job(ctx.seed, REFERENCE)
    if ctx.run.is_done(job):
        return
    points = plan_points(ctx.cfg, ctx.data.groups, ctx.seed)[REFERENCE]
    margins = [predict_splits(ctx, ctx.base_model, ctx.progress, f"seed {ctx.seed} · eval θ0"),
               predict_splits(ctx, fft_model, ctx.progress, f"seed {ctx.seed} · eval fft")]
    stacked = {s: np.stack([m[s] for m in margins]) for s in ("val", "test")}
    ctx.run.mark_done(job, [_save_points(ctx, REFERENCE, points, stacked)])
    ctx.landed(job)


def evaluate_grid(ctx: SeedContext) -> None:
    """Margins on validation and test of every planned point not yet stored.

    Job by job, the job's points not yet evaluated are dealt out to the processes (point i to
    process i mod N); each evaluates its share on its own device, the margins are gathered, and
    the main process writes the job. One process evaluates them all."""
    run, seed, sync = ctx.run, ctx.seed, ctx.sync
    groups = ctx.data.groups
    t = time.perf_counter()
    jobs = plan_points(ctx.cfg, groups, seed)
    pending = [name for name in jobs if not run.is_done(layout.eval_job(seed, name))]
    ctx.skipped += len(jobs) - len(pending)
    if pending:
        known = _known_margins(ctx, jobs)
        paths = [run.task_vector_path(seed, n) for n in ("fft", *groups)]
        numel = sum(t.numel() for t in ctx.theta0.values())
        # the engine keeps the vectors in RAM when (K + 2) model copies fit the memory budget,
        # else streams each point tensor by tensor from the vector files
        # on the CPU: flat or stream by the memory budget; on a GPU the engine picks resident
        # (θ0 and the vectors on the GPU) or stream by the GPU's free memory
        mode = choose_mode(numel, len(paths), "cpu", reuse=True) if ctx.device.type == "cpu" else "auto"
        if mode == "flat":
            eval_model, base = copy.deepcopy(ctx.base_model), ctx.theta0
        else:
            # θ0 is streamed from a stored copy too, and the points go into the seed's θ0 model
            # itself (its training jobs are done): one model in memory, whatever its size
            if sync.main and run.theta0_path(seed) is None:
                run.save_theta0(seed, ctx.theta0, base_sha256=ctx.base_sha256, shard_bytes=vector_shard_bytes())
            sync.wait(run)
            eval_model, base = ctx.base_model, TensorSource(run.theta0_path(seed))
            ctx.theta0 = {}
        engine = MergeEngine(eval_model, paths, base=base, reuse=True, mode=mode)
        # compiled after the engine has pointed the parameters at its buffers: the compiled
        # module reads them in place, so every merge below reaches it
        runner = eval_model
        if ctx.cfg.eval.compile:
            runner = compiled_for_inference(eval_model, ctx.tokenizer, ctx.splits.val.texts[:8],
                                            max_length=ctx.max_length, device=ctx.device)
        total = len({p.key for n in pending for p in jobs[n]} - set(known))
        from tqdm.auto import tqdm
        where = f", {sync.world} processes" if sync.world > 1 else ""
        bar = tqdm(total=total, desc=f"seed {seed} · evaluate ({engine.mode} merge{where})", unit="point",
                   disable=not ctx.progress or not sync.main, dynamic_ncols=True)
        for name in pending:
            todo = list({p.key: p for p in jobs[name] if p.key not in known}.values())
            mine = {}
            for i in range(sync.rank, len(todo), sync.world):
                p = todo[i]
                engine.set(p.coef, method=p.method, **dict(p.params))
                mine[i] = predict_splits(ctx, runner, False, "")
                if sync.world == 1:
                    bar.update(1)
            if sync.world > 1:
                from accelerate.utils import gather_object
                for part in gather_object([mine]):
                    for i, margins in part.items():
                        known[todo[i].key] = margins
                bar.update(len(todo))
            else:
                known.update((todo[i].key, m) for i, m in mine.items())
            if sync.main:
                stacked = {s: np.stack([known[p.key][s] for p in jobs[name]]) for s in ("val", "test")}
                run.mark_done(layout.eval_job(seed, name), [_save_points(ctx, name, jobs[name], stacked)])
                ctx.landed(layout.eval_job(seed, name))
        bar.close()
        engine.close()
        if isinstance(base, TensorSource):
            base.close()
        del engine, eval_model, base, runner
    sync.wait(run)
    ctx.timings["evaluate"] += time.perf_counter() - t


def predict_splits(ctx: SeedContext, model, progress: bool, desc: str) -> dict[str, np.ndarray]:
    out = {}
    for split in ("val", "test"):
        if split not in ctx.encoded:
            ctx.encoded[split] = encode_inputs(ctx.tokenizer, getattr(ctx.splits, split).texts,
                                               max_length=ctx.max_length)
        out[split] = predict_margins(model, ctx.tokenizer, ctx.encoded[split], batch_size=ctx.cfg.eval.batch_size,
                                     max_length=ctx.max_length, precision=ctx.cfg.eval.precision,
                                     device=ctx.device, progress=progress, description=f"{desc} {split}")
    return out


def _save_points(ctx: SeedContext, job: str, points: list[Point], margins: dict[str, np.ndarray]) -> str:
    tensors = {s: torch.as_tensor(np.atleast_2d(margins[s]), dtype=torch.float32) for s in ("val", "test")}
    if points and points[0].coef:
        tensors["coef"] = torch.tensor([p.coef for p in points], dtype=torch.float32)
    return ctx.run.save_predictions(ctx.seed, job, tensors, {"points": json.dumps([p.label() for p in points])})


def _known_margins(ctx: SeedContext, jobs: dict[str, list[Point]]) -> dict:
    """Margins of points already evaluated by finished jobs (after a resume)."""
    known = {}
    for name, points in jobs.items():
        if ctx.run.is_done(layout.eval_job(ctx.seed, name)):
            t = ctx.run.load_predictions_file(ctx.seed, name)
            for i, p in enumerate(points):
                known[p.key] = {s: t[s][i].numpy() for s in ("val", "test")}
    return known
