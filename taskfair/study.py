"""The study: per seed, FFT, LoRA and one fine-tune per subgroup from one θ0; their task vectors;
margins on validation and test for every evaluation point the dashboard needs; metrics.

Every evaluation point is a coefficient vector ``c`` over ``[τ_FFT, τ_1 … τ_K]`` applied to θ0:
the base is ``0``, FFT is ``e_0``, subgroup model g is ``e_g``, the uniform sweep is
``(0, λ, …, λ)``, injection into FFT is ``e_0 + λ e_g`` and subgroup g's own axis is ``λ e_g``.
Identical points are evaluated once. Work is split into jobs recorded in the run's manifest, so
an interrupted run resumes after the last finished job.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import time
from itertools import combinations
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .config import StudyConfig
from .data import Dataset, DataError, Splits, load_civil_comments, load_measuring_hate_speech, \
    load_redditbias, load_table, split_dataset
from .fairness import bootstrap_ci, fairness_table, worst_subgroup
from .inference import best_device, predict_margins
from .merge import FlatMerger
from .models import is_image_model, load_classifier
from .results import load_predictions
from .store import ArtifactStore, Run
from .taskvector import TaskVector, model_weights, weights_sha256
from .training import finetune, finetune_lora

__all__ = ["load_study_data", "validate_study", "run_study", "load_base", "StudyResult", "STAGES"]

STAGES = ("data", "train", "evaluate", "metrics")
Log = Callable[[str], None]


# --------------------------------------------------------------------------- data

def load_study_data(cfg: StudyConfig) -> Dataset:
    """The configured dataset, restricted to its subgroups and optionally subsampled."""
    d = cfg.dataset
    if d.name == "redditbias":
        data = load_redditbias(d.subgroups) if d.subgroups else load_redditbias()
    elif d.name == "mhs" and d.attribute == "gender+race":
        from .data import intersect
        both = intersect(load_measuring_hate_speech(d.path, attribute="gender"),
                         load_measuring_hate_speech(d.path, attribute="race"), min_size=d.min_group_size)
        data = both.select_groups(list(d.subgroups)) if d.subgroups else both
    elif d.name == "mhs":
        data = load_measuring_hate_speech(d.path, attribute=d.attribute, subgroups=d.subgroups)
    elif d.name == "civil_comments":
        kw = {"subgroups": d.subgroups} if d.subgroups else {}
        data = load_civil_comments(d.path, **kw)
    elif d.name == "image_folder":
        from .images import load_image_folder
        data = load_image_folder(d.path, image_root=d.image_root, image_column=d.image_column,
                                 label_column=d.label_column, group_column=d.group_column,
                                 group_columns=d.group_columns, group_separator=d.group_separator,
                                 groups=d.subgroups, label_threshold=d.label_threshold)
    else:
        data = load_table(d.path, text_column=d.text_column, label_column=d.label_column,
                          group_column=d.group_column, group_columns=d.group_columns,
                          group_separator=d.group_separator, groups=d.subgroups,
                          label_threshold=d.label_threshold)
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


def validate_study(cfg: StudyConfig) -> tuple[Dataset, dict[int, Splits]]:
    """Everything that can fail before training: the model spec, the data, every seed's splits
    (each subgroup present in each split, with both labels in its training rows)."""
    images = is_image_model(cfg.model, trust_remote_code=cfg.trust_remote_code)
    if images is not None and images != (cfg.dataset.name == "image_folder"):
        from .config import ConfigError
        raise ConfigError(
            f"model: {cfg.model!r} is {'an image' if images else 'a text'} classifier but dataset "
            f"{cfg.dataset.name!r} holds {'texts' if images else 'images'}; pair an image model "
            "(tiny-vit, a ViT folder or hub id) with dataset.name image_folder, and a text model with the others")
    data = load_study_data(cfg)
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
    return data, splits


# --------------------------------------------------------------------------- points

@dataclass(frozen=True)
class Point:
    family: str          # base | fft | subgroup | uniform | inject | axis | pair | probe | ties | dare | lora
    target: str          # the subgroup for subgroup/inject/axis, else ""
    lam: float           # λ, NaN where it does not apply
    coef: tuple[float, ...]
    method: str = "task_arithmetic"
    params: tuple[tuple[str, float | int], ...] = ()

    @property
    def key(self) -> tuple:
        """Points with equal keys are the same model, evaluated once."""
        return (self.coef, self.method, self.params)

    def label(self) -> dict:
        return {"family": self.family, "target": self.target, "lam": self.lam}


def _points(cfg: StudyConfig, groups: tuple[str, ...], seed: int = 0) -> dict[str, list[Point]]:
    k = len(groups)
    nan = float("nan")

    def e(i: int, scale: float = 1.0) -> list[float]:
        c = [0.0] * (k + 1)
        c[i] = scale
        return c

    jobs: dict[str, list[Point]] = {
        "models": [Point("base", "", nan, tuple(e(0, 0.0))), Point("fft", "", nan, tuple(e(0)))]
        + [Point("subgroup", g, nan, tuple(e(i + 1))) for i, g in enumerate(groups)],
        "uniform": [Point("uniform", "", lam, (0.0,) + (lam,) * k) for lam in cfg.grids.uniform],
    }
    for i, g in enumerate(groups):
        jobs[f"inject/{g}"] = [Point("inject", g, lam, tuple(np.add(e(0), e(i + 1, lam)).tolist()))
                               for lam in cfg.grids.inject]
    for i, g in enumerate(groups):
        jobs[f"axis/{g}"] = [Point("axis", g, lam, tuple(e(i + 1, lam))) for lam in cfg.grids.axis]
    if k > 1 and cfg.grids.pairs:
        jobs["pairs"] = [Point("pair", f"{g}+{h}", lam, tuple(np.add(e(i + 1, lam), e(j + 1, lam)).tolist()))
                         for lam in cfg.grids.pairs for (i, g), (j, h) in combinations(enumerate(groups), 2)]
    for m in cfg.grids.methods:
        params = (("density", cfg.grids.ties_density),) if m == "ties" else \
            (("drop_rate", cfg.grids.dare_drop_rate), ("seed", seed))
        jobs[f"method/{m}"] = [Point(m, "", lam, (0.0,) + (lam,) * k, m, params) for lam in cfg.grids.methods_grid]
    if k > 1 and cfg.grids.probes:
        rng = np.random.default_rng([seed, 1729])
        jobs["probes"] = [Point("probe", f"#{n}", float("nan"), (0.0,) + tuple(np.round(rng.uniform(0, 1, k), 4).tolist()))
                          for n in range(cfg.grids.probes)]
    return jobs


# --------------------------------------------------------------------------- the run

@dataclass
class StudyResult:
    run: Run
    timings: dict[str, float] = field(default_factory=dict)
    headline: pd.DataFrame | None = None
    summary: dict | None = None
    skipped_jobs: int = 0


def load_base(cfg: StudyConfig, seed: int):
    """θ0 of a seed: the pretrained model with its head initialised under ``seed``."""
    return load_classifier(cfg.model, head_seed=seed, trust_remote_code=cfg.trust_remote_code)


def run_study(cfg: StudyConfig, *, progress: bool = True, log: Log = lambda s: None) -> StudyResult:
    """Run (or resume) the whole study for ``cfg``; returns where it is and the headline."""
    timings = {s: 0.0 for s in STAGES}
    t0 = time.perf_counter()
    data, splits = validate_study(cfg)
    store = ArtifactStore(cfg.output_root)
    # Under `accelerate launch` every process trains; only the main process writes artifacts
    # and evaluates, the others wait and re-read the manifest.
    sync = _Sync()
    run = store.create(cfg.run_id, cfg.to_dict()) if sync.main else None
    sync.wait()
    run = run or store.open(cfg.run_id, verify=False)
    result = StudyResult(run, timings)
    if sync.main:
        log(data.report())
    if not run.is_done("data") and sync.main:
        run.save_table("data/dataset.parquet", data.to_frame())
        # what cleaning dropped and why, and notes such as the intersections below min_group_size
        run.save_json("data/report.json", {"dropped": {k: int(v) for k, v in data.dropped.items()},
                                            "notes": list(data.notes)})
        for seed, sp in splits.items():
            run.save_json(f"seed{seed}/splits.json", _split_indices(data, sp))
        run.mark_done("data", ["data/dataset.parquet", "data/report.json"] +
                      [f"seed{s}/splits.json" for s in splits])
    sync.wait(run)
    timings["data"] += time.perf_counter() - t0

    device = sync.device
    for seed in cfg.seeds:
        result.skipped_jobs += _run_seed(cfg, run, data, splits[seed], seed, device, timings,
                                         progress, log, sync)
    if not sync.main:
        return result

    t = time.perf_counter()
    table = build_metrics(run, cfg, data)
    run.save_table("metrics.parquet", table)
    summary, headline = summarise(table, cfg)
    summary["majority_baseline_test"] = float(np.mean(
        [max(p, 1 - p) for p in (splits[s].test.labels.mean() for s in cfg.seeds)]))
    run.save_json("summary.json", summary)
    run.save_table("headline.parquet", headline)
    run.mark_done("metrics", ["metrics.parquet", "summary.json", "headline.parquet"])
    timings["metrics"] += time.perf_counter() - t
    result.headline, result.summary = headline, summary
    run.save_json("timings.json", timings)
    return result


class _Sync:
    """Process coordination for multi-process launches; trivial in a single process."""

    def __init__(self) -> None:
        from accelerate import PartialState
        self.state = PartialState()
        self.main = self.state.is_main_process
        self.device = self.state.device if self.state.num_processes > 1 else best_device()

    def wait(self, run: Run | None = None) -> None:
        if self.state.num_processes > 1:
            self.state.wait_for_everyone()
            if run is not None and not self.main:
                run.reload()


def _split_indices(data: Dataset, sp: Splits) -> dict[str, list[int]]:
    return {name: [int(i) for i in sp.index[name]] for name, _ in sp}


def _run_seed(cfg, run: Run, data: Dataset, sp: Splits, seed: int, device, timings, progress,
              log: Log, sync: _Sync) -> int:
    prefix = f"seed{seed}"
    groups = data.groups
    train_cfg = dataclasses.replace(cfg.train, seed=seed)
    sub_cfg = dataclasses.replace(cfg.subgroup_train or cfg.train, seed=seed)
    max_length = cfg.eval.max_length or cfg.train.max_length
    skipped = 0

    t = time.perf_counter()
    base_model, tok = load_base(cfg, seed)
    base_model.to(device)
    theta0 = {k: v.detach().cpu().clone() for k, v in model_weights(base_model).items()}
    base_sha = weights_sha256(theta0)
    if run.is_done(f"{prefix}/base"):
        stored = run.load_json(f"{prefix}/base.json")["sha256"]
        if stored != base_sha:
            raise RuntimeError(f"θ0 for seed {seed} differs from the one this run started with "
                               f"({base_sha[:12]}… vs {stored[:12]}…): the model files or library "
                               "versions changed. Start a new run (another output_root or name).")
    elif sync.main:
        run.save_json(f"{prefix}/base.json", {"sha256": base_sha, "model": cfg.model, "head_seed": seed})
        run.mark_done(f"{prefix}/base", [f"{prefix}/base.json"])
    sync.wait(run)
    timings["data"] += time.perf_counter() - t

    # ---- training: FFT, LoRA, one model per subgroup -------------------------------
    def train_job(name: str, texts, labels, tcfg, kind: str = "full") -> None:
        nonlocal skipped
        job, file = f"{prefix}/train/{name}", f"{prefix}/tv/{name}.safetensors"
        if run.is_done(job):
            skipped += 1
            return
        t = time.perf_counter()
        model = copy.deepcopy(base_model)
        desc = f"seed {seed} · train {name} ({len(texts)} rows)"
        if kind == "lora":
            lc = cfg.lora
            lcfg = tcfg if lc.learning_rate is None else dataclasses.replace(tcfg, learning_rate=lc.learning_rate)
            model = finetune_lora(model, tok, texts, labels, lcfg, r=lc.r, alpha=lc.alpha,
                                  dropout=lc.dropout, target_modules=lc.target_modules,
                                  progress=progress, description=desc)
        else:
            finetune(model, tok, texts, labels, tcfg, progress=progress, description=desc)
        if not sync.main:
            del model
            sync.wait(run)
            return
        weights = {k: v.detach().cpu() for k, v in model_weights(model).items()}
        tv = TaskVector.from_weights(theta0, weights, base_sha256=base_sha, base_model=cfg.model, name=name)
        run.save_task_vector(file, tv)
        outputs = [file]
        if kind == "lora":  # LoRA is not one of the merge axes: evaluate it here
            lora_preds = _predict_splits(model, tok, sp, cfg, max_length, device, progress,
                                         f"seed {seed} · eval lora")
            outputs.append(_save_preds(run, f"{prefix}/preds/lora.safetensors",
                                       [Point("lora", "", float("nan"), ())], lora_preds))
        run.mark_done(job, outputs)
        del model
        sync.wait(run)
        timings["train"] += time.perf_counter() - t

    train_job("fft", sp.train.texts, sp.train.labels, train_cfg)
    train_job("lora", sp.train.texts, sp.train.labels, train_cfg, kind="lora")
    for g in groups:
        part = sp.train.group(g)
        train_job(g, part.texts, part.labels, sub_cfg)

    # ---- evaluation of every point (main process only) ----------------------------
    if not sync.main:
        return skipped
    t = time.perf_counter()
    jobs = _points(cfg, groups, seed)
    pending = [name for name in jobs if not run.is_done(f"{prefix}/eval/{name}")]
    skipped += len(jobs) - len(pending)
    if pending:
        known = _known_margins(run, prefix, jobs)
        vectors = [run.load_task_vector(f"{prefix}/tv/{n}.safetensors", expected_base_sha256=base_sha)
                   for n in ("fft", *groups)]
        model = copy.deepcopy(base_model).cpu().float()
        merger = FlatMerger(model, vectors, base=theta0)
        # on an accelerator the merge stays on the CPU buffer and is copied into a device model
        eval_model = model if device.type == "cpu" else copy.deepcopy(model).to(device)
        total = len({p.key for n in pending for p in jobs[n]} - set(known))
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc=f"seed {seed} · evaluate", unit="point", disable=not progress,
                   dynamic_ncols=True)
        for name in pending:
            margins = []
            for p in jobs[name]:
                if p.key not in known:
                    _set_merger(merger, eval_model, p.coef, p.method, p.params)
                    known[p.key] = _predict_splits(eval_model, tok, sp, cfg, max_length, device, False, "")
                    bar.update(1)
                margins.append(known[p.key])
            stacked = {s: np.stack([m[s] for m in margins]) for s in ("val", "test")}
            file = _save_preds(run, f"{prefix}/preds/{name.replace('/', '-')}.safetensors",
                               jobs[name], stacked)
            run.mark_done(f"{prefix}/eval/{name}", [file])
        bar.close()
        del model, merger, eval_model
    timings["evaluate"] += time.perf_counter() - t
    log(f"seed {seed}: done ({skipped} finished job(s) reused)")
    return skipped


def _set_merger(merger: FlatMerger, model: torch.nn.Module, coef, method: str = "task_arithmetic",
                params: tuple = ()) -> None:
    """Set the merged weights; when ``model`` is not the merger's own, copy them into it."""
    merger.set(list(coef), method=method, **dict(params))
    if model is not merger.model:
        params = dict(model.named_parameters())
        with torch.no_grad():
            for n, w in merger.weights().items():
                params[n].copy_(w, non_blocking=True)


def _predict_splits(model, tok, sp: Splits, cfg: StudyConfig, max_length, device, progress, desc):
    out = {}
    for split in ("val", "test"):
        part = getattr(sp, split)
        out[split] = predict_margins(model, tok, part.texts, batch_size=cfg.eval.batch_size,
                                     max_length=max_length, precision=cfg.eval.precision,
                                     device=device, progress=progress, description=f"{desc} {split}")
    return out


def _save_preds(run: Run, name: str, points: list[Point], margins: dict[str, np.ndarray]) -> str:
    tensors = {s: torch.as_tensor(np.atleast_2d(margins[s]), dtype=torch.float32) for s in ("val", "test")}
    if points and points[0].coef:
        tensors["coef"] = torch.tensor([p.coef for p in points], dtype=torch.float32)
    run.save_tensors(name, tensors, {"points": json.dumps([p.label() for p in points])})
    return name


def _known_margins(run: Run, prefix: str, jobs: dict[str, list[Point]]) -> dict:
    """Margins of points already evaluated by finished jobs (after a resume)."""
    known = {}
    for name, points in jobs.items():
        if run.is_done(f"{prefix}/eval/{name}"):
            t = run.load_tensors(f"{prefix}/preds/{name.replace('/', '-')}.safetensors")
            for i, p in enumerate(points):
                known[p.key] = {s: t[s][i].numpy() for s in ("val", "test")}
    return known


# --------------------------------------------------------------------------- metrics

def build_metrics(run: Run, cfg: StudyConfig, data: Dataset) -> pd.DataFrame:
    """The tidy metrics table over every stored prediction of every seed and split."""
    frames = []
    for seed in cfg.seeds:
        idx = run.load_json(f"seed{seed}/splits.json")
        preds = load_predictions(run, seed)
        for split in ("val", "test"):
            part = data.subset(idx[split])
            for name, (points, arrays) in preds.items():
                pts = pd.DataFrame(points).assign(seed=seed, split=split)
                pts["_t"] = np.arange(len(pts))
                pred = arrays[split] > 0
                table = fairness_table(pred, part.labels, part.masks, part.groups,
                                       points=pts[["seed", "split", "family", "target", "lam", "_t"]])
                if cfg.eval.bootstrap:
                    # the same resamples for every point of a seed and split (a paired bootstrap)
                    ci = pd.concat([bootstrap_ci(pred[t], part.labels, part.masks, part.groups,
                                                 n_boot=cfg.eval.bootstrap, seed=seed).assign(_t=t)
                                    for t in range(len(pts))], ignore_index=True)
                    table = table.merge(ci, on=["_t", "group", "metric"], how="left")
                frames.append(table.drop(columns="_t"))
    return pd.concat(frames, ignore_index=True)


def summarise(table: pd.DataFrame, cfg: StudyConfig) -> tuple[dict, pd.DataFrame]:
    """The λ the paper would choose (highest validation accuracy, per seed), the worst subgroup
    under FFT (on validation), and the headline table on test."""
    overall = table[(table.group == "(all)")]
    chosen = {}
    for seed in cfg.seeds:
        acc = overall[(overall.seed == seed) & (overall.split == "val") & (overall.family == "uniform")
                      & (overall.metric == "accuracy")].sort_values("lam")
        chosen[int(seed)] = float(acc.loc[acc.value.idxmax(), "lam"])
    fft_val = table[(table.family == "fft") & (table.split == "val")]
    worst = worst_subgroup(fft_val)
    rows = []
    metrics = ("accuracy", "macro_accuracy", "worst_dpd", "worst_eod")
    test = overall[overall.split == "test"]
    for label, sel in (("base", test.family == "base"), ("FFT", test.family == "fft"),
                       ("LoRA", test.family == "lora")):
        rows += _headline_rows(test[sel], label, metrics)
    ta = pd.concat([test[(test.family == "uniform") & (test.seed == s) & np.isclose(test.lam, lam)]
                    for s, lam in chosen.items()])
    rows += _headline_rows(ta, "task addition (chosen λ)", metrics)
    headline = pd.DataFrame(rows)
    summary = {"chosen_lambda": chosen, "worst_subgroup_fft": worst, "selection_split": "val",
               "report_split": "test", "seeds": list(cfg.seeds)}
    return summary, headline


def _headline_rows(df: pd.DataFrame, label: str, metrics) -> list[dict]:
    row = {"method": label}
    for m in metrics:
        v = df[df.metric == m].value.to_numpy(dtype=float)
        row[m] = float(np.nanmean(v)) if len(v) else float("nan")
        row[f"{m}_sem"] = float(np.nanstd(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
    return [row]
