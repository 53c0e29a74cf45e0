"""The model card (README.md) of an export: coefficients, a warning for a constant predictor,
the source, the test metrics, the counterfactual identity test and the provenance."""
from __future__ import annotations

import json
from typing import Mapping

import pandas as pd

__all__ = ["model_card"]


def _provenance_lines(record: Mapping) -> list[str]:
    lines = ["", "## Provenance", "",
             "Everything below is also in `provenance.json`; `python -m taskfair recreate <this folder>` "
             "rebuilds the weights from it and checks their hash.", "",
             f"- **merged weights sha256**: `{record['merged_weights_sha256']}`",
             f"- **base model**: `{record['base_model']['spec']}`, weights sha256 "
             f"`{record['base_model']['weights_sha256']}` (head seed {record['base_model']['head_seed']})",
             f"- **merge**: `{record['merge']['method']}` {json.dumps(record['merge']['params']) if record['merge']['params'] else ''}",
             f"- **data**: {record['data']['dataset']}"
             + (f", attribute {record['data']['attribute']}" if record['data'].get('attribute') else "")
             + f"; subgroups {', '.join(record['data']['subgroups'])}; λ chosen on "
             f"{record['data']['selection_split']}, reported on {record['data']['report_split']}",
             f"- **seeds**: run {record['seeds']['run']}, this model {record['seeds']['this_model']}",
             "", "| task vector | coefficient | sha256 |", "|---|---|---|"]
    lines += [f"| {v.get('vector') or v['subgroup']} | {v['coefficient']:.4f} | `{v['sha256'][:16]}…` |"
              for v in record["task_vectors"]]
    for split, ev in record.get("evaluation", {}).items():
        lines += ["", f"Evaluation data ({split}): {ev['n_examples']} examples, sha256 `{ev['data_sha256'][:16]}…`; "
                  f"95% bootstrap intervals over examples ({ev['bootstrap']['n']} resamples):", "",
                  "| group | metric | value | 95% interval |", "|---|---|---|---|"]
        for m in ev["metrics"]:
            v, lo, hi = m["value"], m.get("ci_low"), m.get("ci_high")
            fmt = lambda x: "undefined" if x is None or x != x else f"{x:.3f}"
            lines.append(f"| {m['group']} | {m['metric']} | {fmt(v)} | {fmt(lo)}–{fmt(hi)} |")
    versions = record.get("versions", {})
    if versions:
        lines += ["", "Packages: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))]
    return lines


def model_card(name: str, provenance: Mapping, metrics: pd.DataFrame | None,
                record: Mapping | None = None, *, image: bool = False,
                auto: str = "AutoModelForSequenceClassification",
                counterfactual: pd.DataFrame | None = None, versus: Mapping | None = None) -> str:
    lines = [f"# {name}", "",
             f"A merged {'image' if image else 'sequence'} classifier made with taskfair: "
             "`θ = θ0 + Σ λ_v τ_v` over task vectors of demographic subgroups (and of full fine-tuning or LoRA).", "",
             "## Coefficients", "", "| task vector | λ |", "|---|---|"]
    lines += [f"| {g} | {lam:.3f} |" for g, lam in provenance.get("coefficients", {}).items()]
    lw = (record or {}).get("layerwise")
    if lw:
        blocks = lw.get("blocks") or [f"block {i}" for i in range(len(next(iter(lw["coefficients"].values()))))]
        lines += ["", "Layer-wise: each block of layers has its own λ (the table above shows their mean).", "",
                  "| task vector | " + " | ".join(blocks) + " |", "|---|" + "---|" * len(blocks)]
        lines += [f"| {v} | " + " | ".join(f"{x:.3f}" for x in row) + " |" for v, row in lw["coefficients"].items()]
    bad = {split: e.get("degenerate") for split, e in ((record or {}).get("evaluation") or {}).items()
           if e.get("degenerate")}
    if bad:
        lines += ["", "## Warning: a constant predictor", "",
                  "This model " + "; ".join(f"{why} ({split})" for split, why in bad.items()) + ". Its fairness "
                  "metrics below are those of a model that learned nothing (trivially fair), not evidence "
                  "of fairness."]
    lines += ["", "## Source", ""]
    for key in ("run", "seed", "configuration", "base_model", "base_sha256", "dataset", "merge_method"):
        if provenance.get(key) is not None:
            lines.append(f"- **{key}**: `{provenance[key]}`")
    if metrics is not None and len(metrics):
        lines += ["", "## Metrics (test split, one subgroup against the rest)", "",
                  metrics.to_markdown(index=False, floatfmt=".3f") if _has_tabulate() else
                  "```\n" + metrics.to_string(index=False, float_format=lambda v: f"{v:.3f}") + "\n```"]
    if versus:
        lines += ["", "## Against FFT and the run's front (test split, paired)", "",
                  "The same bootstrap resamples of the test examples for this model and for every stored point of "
                  "its seed: its difference from full fine-tuning with a 95% interval (an interval that includes 0: "
                  "no difference shown), and the share of resamples in which it is on the Pareto front of the run's "
                  "stored configurations. One seed: seed-to-seed variation is not measured.", "",
                  "| metric | this model − FFT | 95% interval |", "|---|---|---|"]
        for m, label in (("accuracy", "accuracy"), ("worst_dpd", "worst DPD"), ("worst_eod", "worst EOD")):
            if f"test {m} − FFT" in versus:
                lines.append(f"| {label} | {versus[f'test {m} − FFT']:+.3f} | "
                             f"[{versus[f'test {m} − FFT low']:+.3f}, {versus[f'test {m} − FFT high']:+.3f}] |")
        shares = [(k.split("(")[1].rstrip(")"), v) for k, v in versus.items() if "front share" in k]
        if shares:
            lines += ["", "On the front (accuracy against " + "; ".join(f"{n}: {v:.0%} of resamples" for n, v in shares)
                      + ")."]
    if counterfactual is not None and len(counterfactual):
        lines += ["", "## Counterfactual identity test (test split)", "",
                  "Each subgroup's comments with their identity terms swapped for the opposite group's (RedditBias's "
                  "own term lists): how often the prediction flips when only the identity term changes, and the mean "
                  "change of the margin (positive: towards hostile).", "",
                  counterfactual.to_markdown(index=False, floatfmt=".3f") if _has_tabulate() else
                  "```\n" + counterfactual.to_string(index=False, float_format=lambda v: f"{v:.3f}") + "\n```"]
    if record is not None:
        lines += _provenance_lines(record)
    pre = "AutoImageProcessor" if image else "AutoTokenizer"
    lines += ["", "## Use", "", "```python",
              f"from transformers import {auto}, {pre}",
              f"model = {auto}.from_pretrained('{name}')",
              f"{'processor' if image else 'tokenizer'} = {pre}.from_pretrained('{name}')", "```", ""]
    return "\n".join(lines)


def _has_tabulate() -> bool:
    import importlib.util
    return importlib.util.find_spec("tabulate") is not None  # pandas needs it for to_markdown


