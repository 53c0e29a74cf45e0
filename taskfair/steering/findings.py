"""The study's findings, checked on this run: each computed from the stored metrics (never
written by hand), with a verdict (holds / partly / does not hold), the numbers and 95% intervals
that decide it, and the dashboard page that shows it.

The findings ("On Fairness of Task Arithmetic"): (a) task addition keeps accuracy near FFT and
LoRA; (b) its DPD and EOD fall below FFT's and LoRA's; (c) injecting a subgroup's vector into FFT
moves fairness in a group-dependent way; (d) no method is fairest for every subgroup."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..metrics.tables import seed_mean
from ..store.results import RunResults
from .views import ALL, _chosen_uniform, compare_methods

__all__ = ["Finding", "findings", "findings_table", "NEAR_ACCURACY", "MATERIAL"]

NEAR_ACCURACY = 0.02   # "near": task addition's accuracy at most this far below the better of FFT/LoRA
MATERIAL = 0.02        # a change in DPD/EOD smaller than this is not counted as a change


@dataclass(frozen=True)
class Finding:
    key: str        # a | b | c | d
    claim: str      # the study's finding, in one sentence
    verdict: str    # holds | partly | does not hold | not measured
    evidence: str   # this run's numbers (means over seeds, [95% interval] over examples)
    page: str       # the dashboard page that shows it


def _fmt(row) -> str:
    if row is None:
        return "n/a"
    ci = ""
    if "low" in row and pd.notna(row.get("low")) and pd.notna(row.get("high")):
        ci = f" [{row['low']:.3f}, {row['high']:.3f}]"
    return f"{row['mean']:.3f}{ci}"


def _headline(results: RunResults, split: str) -> dict[tuple[str, str], dict]:
    m = results.metrics
    m = m[(m.split == split) & (m.group == ALL)]
    parts = [m[m.family == "fft"].assign(method="FFT"), m[m.family == "lora"].assign(method="LoRA"),
             _chosen_uniform(m, results.summary["chosen_lambda"]).assign(method="task addition")]
    t = seed_mean(pd.concat(parts), ["method", "metric"])
    return {(r["method"], r["metric"]): r for r in t.to_dict("records")}


def _accuracy(h) -> Finding:
    claim = "Task addition keeps accuracy near full fine-tuning and LoRA."
    ta, fft, lora = (h.get((m, "accuracy")) for m in ("task addition", "FFT", "LoRA"))
    if ta is None or fft is None or lora is None or any(pd.isna(r["mean"]) for r in (ta, fft, lora)):
        return Finding("a", claim, "not measured", "the run lacks FFT, LoRA or the uniform sweep", "Overview")
    better = fft if fft["mean"] >= lora["mean"] else lora
    gap = better["mean"] - ta["mean"]
    # the intervals of task addition and of the better method overlap: the gap may be noise
    overlap = pd.notna(ta.get("high")) and pd.notna(better.get("low")) and ta["high"] >= better["low"]
    verdict = "holds" if gap <= NEAR_ACCURACY else "partly" if (gap <= 2.5 * NEAR_ACCURACY or overlap) \
        else "does not hold"
    ev = (f"accuracy: task addition {_fmt(ta)}, FFT {_fmt(fft)}, LoRA {_fmt(lora)}; "
          f"task addition minus the better of the two: {-gap:+.3f} (near: no more than {NEAR_ACCURACY} below)")
    return Finding("a", claim, verdict, ev, "Overview")


def _fairness(h) -> Finding:
    claim = "Task addition has lower DPD and EOD than full fine-tuning and LoRA."
    wins, total, parts = 0, 0, []
    for metric, name in (("worst_dpd", "worst DPD"), ("worst_eod", "worst EOD")):
        ta = h.get(("task addition", metric))
        if ta is None or pd.isna(ta["mean"]):
            continue
        line = [f"{name}: task addition {_fmt(ta)}"]
        for base in ("FFT", "LoRA"):
            b = h.get((base, metric))
            if b is None or pd.isna(b["mean"]):
                continue
            total += 1
            wins += ta["mean"] < b["mean"] - 1e-12
            line.append(f"{base} {_fmt(b)}")
        parts.append(", ".join(line))
    if not total:
        return Finding("b", claim, "not measured", "no DPD/EOD for these methods", "Sweep")
    verdict = "holds" if wins == total else "does not hold" if wins == 0 else "partly"
    return Finding("b", claim, verdict, f"{'; '.join(parts)} — lower in {wins} of {total} comparisons", "Sweep")


def _injection(results: RunResults, split: str) -> Finding:
    claim = "Injecting a subgroup's vector into FFT moves fairness in a group-dependent way."
    m = results.metrics
    m = m[(m.split == split) & (m.group == ALL) & (m.metric == "worst_dpd")]
    fft = m[m.family == "fft"]["value"].mean()
    inj = m[m.family == "inject"]
    if inj.empty or pd.isna(fft):
        return Finding("c", claim, "not measured", "the run evaluated no injections", "Heatmaps")
    top = inj[np.isclose(inj.lam, inj.lam.max())]
    deltas = (top.groupby("target")["value"].mean() - fft).dropna()
    if len(deltas) < 2:
        return Finding("c", claim, "not measured", "injections of fewer than two subgroups to compare", "Heatmaps")
    spread = float(deltas.max() - deltas.min())
    ev = (f"worst DPD after injecting at λ={inj.lam.max():g}, minus FFT's {fft:.3f}: "
          + ", ".join(f"{g} {d:+.3f}" for g, d in deltas.sort_values().items())
          + f"; spread {spread:.3f}")
    mixed = (deltas < -MATERIAL).any() and (deltas > MATERIAL).any()
    verdict = "holds" if spread >= MATERIAL and mixed else "partly" if spread >= MATERIAL else "does not hold"
    return Finding("c", claim, verdict, ev, "Heatmaps")


def _no_single_winner(results: RunResults, split: str) -> Finding:
    claim = "No method is the fairest for every subgroup."
    t = compare_methods(results, split=split, metrics=("dpd",))
    t = t.dropna(subset=["mean"])
    if t.group.nunique() < 2 or t.method.nunique() < 2:
        return Finding("d", claim, "not measured", "fewer than two subgroups or methods with a DPD", "Overview")
    winners = t.loc[t.groupby("group")["mean"].idxmin()].set_index("group")["method"]
    counts = winners.value_counts()
    ev = "lowest DPD per subgroup: " + ", ".join(f"{g} → {w}" for g, w in winners.items())
    verdict = "holds" if len(counts) > 1 else "does not hold"
    return Finding("d", claim, verdict, ev, "Overview")


def findings(results: RunResults, *, split: str = "test") -> list[Finding]:
    """The four findings on ``split`` (means over seeds; intervals: 95% bootstrap over examples)."""
    h = _headline(results, split)
    return [_accuracy(h), _fairness(h), _injection(results, split), _no_single_winner(results, split)]


def findings_table(results: RunResults, *, split: str = "test") -> pd.DataFrame:
    return pd.DataFrame([f.__dict__ for f in findings(results, split=split)])
