"""The precompute pipeline: per seed, FFT, LoRA and one fine-tune per subgroup from one θ0, their
task vectors, margins on validation and test for every planned λ point, then the metrics.

Work is split into jobs recorded in the run's manifest (:mod:`.jobs`), so an interrupted run
resumes after the last finished job. Under ``accelerate launch`` / ``torchrun`` every process
trains (data-parallel, same global batch as one process) and evaluates its share of the λ grid;
the main process alone writes artifacts.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from taskfair import (ArtifactStore, ConfigError, DataError, Dataset, Run, Splits, StudyConfig, best_device,
                      check_model_spec, is_image_model, load_classifier, load_dataset, model_weights, split_dataset,
                      weights_sha256)
from taskfair.store import layout, run_lock

from .jobs import SeedContext, evaluate_grid, train_jobs
from .plan import REFERENCE, plan_points, planned_jobs, seed_jobs
from .summary import build_metrics, summarise

__all__ = ["validate_study", "run_study", "planned_jobs", "training_plan", "StudyResult", "STAGES",
           "FEW_STEPS"]

# fewer optimiser steps than this for one fine-tune is flagged by --validate
FEW_STEPS = 50

STAGES = ("data", "train", "evaluate", "metrics")
Log = Callable[[str], None]
Validated = tuple[Dataset, dict[int, Splits]]


def validate_study(cfg: StudyConfig) -> tuple[Dataset, dict[int, Splits]]:
    """Everything that can fail before training: the model spec, the data, every seed's splits
    (each subgroup present in each split, with both labels in its training rows), the
    environment settings read later (a bad one would otherwise fail after hours of training) and
    the output place (writable, with room)."""
    _check_environment()
    check_model_spec(cfg.model, trust_remote_code=cfg.trust_remote_code)
    images = is_image_model(cfg.model, trust_remote_code=cfg.trust_remote_code)
    if images is not None and images != (cfg.dataset.name == "image_folder"):
        raise ConfigError(
            f"model: {cfg.model!r} is {'an image' if images else 'a text'} classifier but dataset "
            f"{cfg.dataset.name!r} holds {'texts' if images else 'images'}; pair an image model "
            "(tiny-vit, a ViT folder or hub id) with dataset.name image_folder, and a text model with the others")
    data = load_dataset(cfg.dataset)
    _check_groups(data)
    splits = {}
    for seed in cfg.seeds:
        sp = split_dataset(data, seed=seed, test_size=cfg.dataset.test_size,
                           val_size=cfg.dataset.val_size)
        for g in data.groups:
            labels = sp.train.group(g).labels
            if len(np.unique(labels)) < 2:
                raise DataError(f"subgroup {g!r} has only label {labels[0]} in the training split of "
                                f"seed {seed}; its fine-tune cannot learn. Drop the subgroup or add data.")
        splits[seed] = sp
    _check_output(cfg, data)
    return data, splits


def _check_environment() -> None:
    """The ``TASKFAIR_*`` settings the jobs read midway, read now."""
    from taskfair.vectors.engine import memory_budget

    from .jobs import vector_shard_bytes
    for read in (memory_budget, vector_shard_bytes):
        try:
            read()
        except ValueError as exc:
            raise ConfigError(f"environment setting {exc}") from None


def _check_output(cfg: StudyConfig, data: Dataset) -> None:
    """The artifact root is writable and has room for at least the task vectors (one per fine-tune
    and seed, about the model's weights each; more is checked as each file is written)."""
    from taskfair.models.loading import resolve_model
    from taskfair.store import StoreError
    from taskfair.store.files import check_output_place
    need = 64 << 20
    try:
        src = resolve_model(cfg.model)
        where = Path(src.location)
        if where.exists():
            files = [where] if where.is_file() else [p for p in where.rglob("*") if p.suffix in
                                                     (".safetensors", ".bin", ".gguf", ".pt")]
            need += sum(p.stat().st_size for p in files) * (len(data.groups) + 2) * len(cfg.seeds)
    except Exception:   # a hub or tiny model: its size is not known before it is loaded
        pass
    try:
        check_output_place(cfg.output_root, need=need, what="output_root")
    except StoreError as exc:
        raise ConfigError(str(exc)) from None


def _check_groups(data: Dataset) -> None:
    """Subgroup names become artifact names and dataset columns; each must be a safe name, not a
    column the store uses, and leave some rows outside it (metrics compare it with the rest)."""
    from taskfair.store import StoreError, check_name
    for g in data.groups:
        if g in layout.DATA_COLUMNS:
            raise DataError(f"a subgroup is named {g!r}, a column taskfair stores beside the subgroups "
                            f"({', '.join(layout.DATA_COLUMNS)}); rename it in the data (e.g. {g}_group)")
        try:
            check_name(g)
        except StoreError:
            safe = "".join(c if c.isalnum() or c in "_.=+-" else "_" for c in g).strip("_") or "group"
            raise DataError(f"subgroup {g!r} cannot name an artifact (letters, digits and _ . = + - only, "
                            f"starting with a letter or digit); rename it in the data, e.g. {safe!r}") from None
    n = len(data)
    whole = [g for j, g in enumerate(data.groups) if data.membership[:, j].sum() == n]
    if whole:
        raise DataError(f"every row is in subgroup {whole[0]!r}: its metrics compare it with the rest of the data, "
                        "and there is no rest. Add rows outside it, or use a group column that splits the data")


def training_plan(cfg: StudyConfig, groups: tuple[str, ...], sp: Splits) -> list[dict]:
    """Each fine-tune of a seed: its training rows, optimiser steps and epochs (raised to reach
    ``min_steps``), and a warning when it has fewer than :data:`FEW_STEPS` steps."""
    sub = cfg.subgroup_train or cfg.train
    jobs = [("FFT", cfg.train, len(sp.train)), ("LoRA", cfg.train, len(sp.train))]
    jobs += [(f"subgroup {g}", sub, len(sp.train.group(g))) for g in groups]
    out = []
    for name, tcfg, rows in jobs:
        steps, epochs = tcfg.optimizer_steps(rows)
        warn = ""
        if steps < FEW_STEPS:
            key = "train.min_steps" if tcfg is cfg.train else "subgroup_train.min_steps"
            warn = (f"only {steps} optimiser steps: likely too few to learn anything (a constant predictor "
                    f"is trivially fair); set {key}={FEW_STEPS * 3} or more")
        out.append({"fine_tune": name, "rows": rows, "steps": steps, "epochs": epochs, "warning": warn})
    return out


@dataclass
class StudyResult:
    run: Run
    timings: dict[str, float] = field(default_factory=dict)
    headline: pd.DataFrame | None = None
    summary: dict | None = None
    skipped_jobs: int = 0


# settings that change how fast a run goes, not what it computes: a run can be resumed with
# other values (--resume-anyway)
NEUTRAL_FIELDS = ("eval.batch_size", "eval.compile")


def run_study(cfg: StudyConfig, *, progress: bool = True, log: Log = lambda s: None,
              validated: Validated | None = None, on_change: str = "refuse") -> StudyResult:
    """Run (or resume) the whole study for ``cfg``; returns where it is and the headline.
    ``validated`` is what :func:`validate_study` returned for ``cfg``, when the caller already
    ran it (the data is then not loaded and split a second time). ``on_change`` is what an
    existing run with another config does: ``refuse``, ``resume`` (only :data:`NEUTRAL_FIELDS`
    differ) or ``new`` (the old run is set aside); see :meth:`ArtifactStore.create`."""
    data, splits = validated or validate_study(cfg)
    store = ArtifactStore(cfg.output_root)
    sync = _Sync()
    # one writer per run: a second precompute of the same run is refused, naming the first
    with run_lock(store.root / cfg.run_id, log=log) if sync.main else contextlib.nullcontext():
        return _run_study(cfg, store, sync, data, splits, progress, log, on_change)


def _run_study(cfg: StudyConfig, store: ArtifactStore, sync: "_Sync", data: Dataset, splits: dict[int, Splits],
               progress: bool, log: Log, on_change: str = "refuse") -> StudyResult:
    timings = {s: 0.0 for s in STAGES}
    t0 = time.perf_counter()
    run = store.create(cfg.run_id, cfg.to_dict(), defaults=StudyConfig().to_dict(), neutral=NEUTRAL_FIELDS,
                       on_change=on_change, log=log) if sync.main else None
    sync.wait()
    run = run or store.open(cfg.run_id, verify=False)
    result = StudyResult(run, timings)
    if sync.main:
        log(data.report())
        run.save_plan({"started": _now(), "jobs": [[j, c] for j, c in plan_costs(cfg, data.groups, splits).items()]})
    if not run.is_done(layout.DATA_JOB) and sync.main:
        # what cleaning dropped and why, and notes such as the intersections below min_group_size
        files = run.save_dataset(data.to_frame(), {"dropped": {k: int(v) for k, v in data.dropped.items()},
                                                   "notes": list(data.notes)})
        files += [run.save_split_indices(seed, _split_indices(sp)) for seed, sp in splits.items()]
        run.mark_done(layout.DATA_JOB, files)
    sync.wait(run)
    timings["data"] += time.perf_counter() - t0

    interim = _Interim(run, cfg, data, splits, log) if sync.main else (lambda job: None)
    for seed in cfg.seeds:
        ctx = _seed_context(cfg, run, data, splits[seed], seed, sync, timings, progress)
        ctx.landed = interim
        train_jobs(ctx)
        evaluate_grid(ctx)  # every process evaluates its share of the points; the main one writes
        if sync.main:
            log(f"seed {seed}: done ({ctx.skipped} finished job(s) reused)")
        result.skipped_jobs += ctx.skipped
    if not sync.main:
        return result

    t = time.perf_counter()
    table = build_metrics(run, cfg, data)
    summary, headline = summarise(table, cfg)
    summary["majority_baseline_test"] = _majority(splits)
    run.mark_done(layout.METRICS_JOB, run.save_results(table, summary, headline))
    run.discard_interim()
    for d in summary["degenerate_models"]:
        log(f"warning: the {d['model']} fine-tune (seed {d['seed']}) is degenerate: {d['reason']}")
    timings["metrics"] += time.perf_counter() - t
    result.headline, result.summary = headline, summary
    run.save_timings(timings)
    return result


def _majority(splits: dict[int, Splits]) -> float:
    return float(np.mean([max(p, 1 - p) for p in (sp.test.labels.mean() for sp in splits.values())]))


def _now() -> str:
    import datetime as dt
    return dt.datetime.now(dt.timezone.utc).isoformat()


# the results so far are saved at most this often (seconds), and whenever a job lands that a
# first page waits for (θ0 and FFT, LoRA) or that completes a family of points (the last
# injection, the uniform sweep …), so a page that waits for a family sees all of it at once.
# (Each save recomputes the metrics of every stored point: ~7 s at the end of `quick`.)
INTERIM_EVERY = 300.0
_FIRST_PAGES = ("/" + REFERENCE, "/lora")


class _Interim:
    """Saves the run's results so far as evaluation jobs land, so the dashboard shows them while
    the rest computes (``Run.save_interim``; removed when the final results are saved)."""

    def __init__(self, run: Run, cfg: StudyConfig, data: Dataset, splits: dict[int, Splits], log: Log) -> None:
        self.run, self.cfg, self.data, self.splits, self.log = run, cfg, data, splits, log
        self.last = -float("inf")
        self.ends = set()
        for seed in cfg.seeds:
            names = list(plan_points(cfg, data.groups, seed))
            family = [n.split("/")[0] for n in names]
            self.ends |= {layout.eval_job(seed, n) for i, n in enumerate(names)
                          if i + 1 == len(names) or family[i + 1] != family[i]}
        # the last job of the run is followed at once by the final results
        self.final = layout.eval_job(cfg.seeds[-1], names[-1]) if cfg.seeds else None

    def __call__(self, job: str) -> None:
        if job == self.final:
            return
        if not (job.endswith(_FIRST_PAGES) or job in self.ends) and time.monotonic() - self.last < INTERIM_EVERY:
            return
        try:
            table = build_metrics(self.run, self.cfg, self.data)
            summary, headline = summarise(table, self.cfg)
            summary["majority_baseline_test"] = _majority(self.splits)
            summary["jobs_done"] = sorted(self.run.manifest["jobs"])  # what these results cover
            self.run.save_interim(table, summary, headline)
        except Exception as exc:  # noqa: BLE001 - a display aid: never stop the run for it
            self.log(f"note: could not save the results so far after {job} ({type(exc).__name__}: {exc}); "
                     "the run goes on")
        self.last = time.monotonic()


def plan_costs(cfg: StudyConfig, groups: tuple[str, ...], splits: dict[int, Splits]) -> dict[str, float]:
    """Every job of the run and its cost in forward passes over one example (a training example
    counts 3: forward and backward; an evaluation point counts its validation and test rows):
    the weights of the progress bar and the time-left estimate."""
    jobs = {layout.DATA_JOB: 0.0}
    for seed in cfg.seeds:
        sp = splits[seed]
        n_eval = float(len(sp.val) + len(sp.test))
        train = training_plan(cfg, groups, sp)
        seen: set = set()
        for job, kind, what in seed_jobs(cfg, groups, seed):
            if kind == "train":
                row = train[what]
                jobs[job] = 3.0 * row["rows"] * row["epochs"] + (n_eval if row["fine_tune"] == "LoRA" else 0.0)
            elif kind == "eval":
                new = {p.key for p in what} - seen
                seen |= new
                jobs[job] = len(new) * n_eval
            else:
                jobs[job] = 0.0
    jobs[layout.METRICS_JOB] = 0.0
    return jobs


def _seed_context(cfg: StudyConfig, run: Run, data: Dataset, sp: Splits, seed: int, sync: "_Sync",
                  timings: dict, progress: bool) -> SeedContext:
    """θ0 of the seed (checked against the hash this run started with) and what its jobs share."""
    t = time.perf_counter()
    base_model, tok = load_classifier(cfg.model, head_seed=seed, dtype=cfg.torch_dtype,
                                      trust_remote_code=cfg.trust_remote_code)
    # θ0 on the CPU without a copy: views of the loaded weights, which stay in host memory when
    # the model moves to a GPU (and base_model, on the CPU, is never modified)
    theta0 = model_weights(base_model)
    base_model.to(sync.device)
    base_sha = weights_sha256(theta0)
    if run.is_done(layout.base_job(seed)):
        stored = run.base_sha256(seed)
        if stored != base_sha:
            raise RuntimeError(f"θ0 for seed {seed} differs from the one this run started with "
                               f"({base_sha[:12]}… vs {stored[:12]}…): the model files or library "
                               "versions changed. Start a new run (another output_root or name).")
    elif sync.main:
        run.mark_done(layout.base_job(seed),
                      [run.save_base(seed, {"sha256": base_sha, "model": cfg.model, "head_seed": seed})])
    sync.wait(run)
    timings["data"] += time.perf_counter() - t
    return SeedContext(cfg, run, data, sp, seed, base_model, tok, theta0, base_sha, sync.device, sync,
                       timings, progress)


class _Sync:
    """Process coordination for multi-process launches; trivial in a single process.

    On a host without CUDA the processes of ``torchrun`` / ``accelerate launch`` form a gloo group
    on the CPU. Barriers wait up to six hours: one process may evaluate its share of a large grid
    while another waits."""

    def __init__(self) -> None:
        import datetime

        import torch
        from accelerate import PartialState
        # the state is one per process: these settings take effect when it is first made here (a
        # state made earlier, by accelerate launch or a test, keeps its own)
        self.state = PartialState(cpu=not torch.cuda.is_available(), timeout=datetime.timedelta(hours=6))
        self.world = self.state.num_processes
        self.rank = self.state.process_index
        self.main = self.state.is_main_process
        self.device = self.state.device if self.world > 1 else best_device()

    def wait(self, run: Run | None = None) -> None:
        if self.world > 1:
            self.state.wait_for_everyone()
            if run is not None and not self.main:
                run.reload()


def _split_indices(sp: Splits) -> dict[str, list[int]]:
    return {name: [int(i) for i in sp.index[name]] for name, _ in sp}
