"""The run's results from its stored predictions: the tidy metrics table (every point of every
seed and split, with paired bootstrap intervals), the λ chosen on validation, the worst
subgroup under FFT, and the headline on test."""
from __future__ import annotations

import numpy as np
import pandas as pd

from taskfair import Dataset, Run, StudyConfig, bootstrap_ci, fairness_table, worst_subgroup
from taskfair.store import load_predictions

__all__ = ["build_metrics", "summarise"]


def build_metrics(run: Run, cfg: StudyConfig, data: Dataset) -> pd.DataFrame:
    """The tidy metrics table over every stored prediction of every seed and split."""
    frames = []
    for seed in cfg.seeds:
        idx = run.split_indices(seed)
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
