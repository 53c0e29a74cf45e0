"""The run's results from its stored predictions: the tidy metrics table (every point of every
seed and split, with paired bootstrap intervals), the λ chosen on validation, the worst
subgroup under FFT, and the headline on test."""
from __future__ import annotations

import numpy as np
import pandas as pd

from taskfair import (HEADLINE_METRICS, Dataset, Run, StudyConfig, bootstrap_ci, degenerate_points, fairness_table, health_rows,
                      mark_degenerate, worst_subgroup)
from taskfair.store import load_predictions

__all__ = ["build_metrics", "summarise"]


def build_metrics(run: Run, cfg: StudyConfig, data: Dataset) -> pd.DataFrame:
    """The tidy metrics table over every stored prediction of every seed and split (of a run
    still computing: over those stored so far)."""
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
                frames.append(health_rows(pred, part.labels, pts[["seed", "split", "family", "target", "lam"]],
                                          part.masks, part.groups))
    # a point that predicts one class (or does not beat the majority class) is marked degenerate
    return mark_degenerate(pd.concat(frames, ignore_index=True))


def summarise(table: pd.DataFrame, cfg: StudyConfig) -> tuple[dict, pd.DataFrame]:
    """The λ the paper would choose (highest validation accuracy, per seed), the worst subgroup
    under FFT (on validation), and the headline table on test."""
    overall = table[(table.group == "(all)")]
    bad = degenerate_points(table)
    bad_keys = set(zip(bad.seed, bad.family, bad.target, bad.lam.fillna(-1.0)))
    chosen, notes = {}, []
    for seed in cfg.seeds:
        acc = overall[(overall.seed == seed) & (overall.split == "val") & (overall.family == "uniform")
                      & (overall.metric == "accuracy")].sort_values("lam")
        if acc.empty:  # a run still computing: the sweep of this seed is not evaluated yet
            continue
        ok = acc[[(seed, "uniform", t, lam) not in bad_keys for t, lam in zip(acc.target, acc.lam)]]
        if ok.empty:  # every λ is a constant predictor: say so, and fall back to the plain choice
            notes.append(f"seed {seed}: every task-addition point is degenerate (a constant predictor); "
                         "the chosen λ is the most accurate of them and means nothing")
            ok = acc
        chosen[int(seed)] = float(ok.loc[ok.value.idxmax(), "lam"])
    fft_val = table[(table.family == "fft") & (table.split == "val")]
    worst = worst_subgroup(fft_val) if not fft_val.empty else None
    rows = []
    metrics = HEADLINE_METRICS
    test = overall[overall.split == "test"]
    for label, sel in (("base", test.family == "base"), ("FFT", test.family == "fft"),
                       ("LoRA", test.family == "lora")):
        rows += _headline_rows(test[sel], label, metrics)
    ta = pd.concat([test[(test.family == "uniform") & (test.seed == s) & np.isclose(test.lam, lam)]
                    for s, lam in chosen.items()] or [test.iloc[:0]])
    rows += _headline_rows(ta, "task addition (chosen λ)", metrics)
    headline = pd.DataFrame(rows)
    flags = {"base": bad.family == "base", "FFT": bad.family == "fft", "LoRA": bad.family == "lora"}
    chosen_bad = sum(any(k[0] == s and k[1] == "uniform" and np.isclose(k[3], lam) for k in bad_keys)
                     for s, lam in chosen.items())
    # the share of seeds whose model (or chosen point) is a constant predictor
    headline["degenerate"] = [float(flags[m].sum()) / len(cfg.seeds) if m in flags else chosen_bad / len(cfg.seeds)
                              for m in headline["method"]]
    collapsed = [{"seed": int(r.seed), "model": r.family if r.family != "subgroup" else f"subgroup {r.target}",
                  "reason": r.reason} for r in bad.itertuples() if r.family in ("fft", "lora", "subgroup")]
    summary = {"chosen_lambda": chosen, "worst_subgroup_fft": worst, "selection_split": "val",
               "report_split": "test", "seeds": list(cfg.seeds), "degenerate_models": collapsed,
               "degenerate_points": int(len(bad)), "notes": notes}
    return summary, headline


def _headline_rows(df: pd.DataFrame, label: str, metrics) -> list[dict]:
    row = {"method": label}
    for m in metrics:
        v = df[df.metric == m].value.to_numpy(dtype=float)
        row[m] = float(np.nanmean(v)) if len(v) else float("nan")
        row[f"{m}_sem"] = float(np.nanstd(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
    return [row]
