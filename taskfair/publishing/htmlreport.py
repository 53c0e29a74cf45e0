"""A self-contained HTML fairness report for one or several configurations of a finished run:
headline table (validation and test side by side), per-subgroup charts with bootstrap intervals
and seed spread, the coefficients, data and model provenance, and plain-language caveats.
The plotting library is inlined, so the file opens offline in any browser."""
from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Sequence

import numpy as np
import pandas as pd

from ..data.images import is_image_run
from ..metrics.fairness import ALL
from ..metrics.tables import HEADLINE_METRICS, rates_with_ci
from ..steering.configurations import Variant, parse_variant
from ..steering.margins import config_margins
from ..steering.findings import findings
from ..store.files import StoreError
from ..steering.views import min_size_effect
from ..store.files import package_versions
from ..store.results import RunResults
from .provenance import eval_data_sha256

__all__ = ["report_frames", "html_report"]

NAMES = {"accuracy": "Accuracy", "macro_accuracy": "Macro accuracy", "worst_dpd": "Worst-case DPD",
         "worst_eod": "Worst-case EOD", "dpd": "DPD", "eod": "EOD"}
SMALL_GROUP, FEW_POSITIVES = 50, 10


def report_frames(results: RunResults, configs: Sequence[str | Variant], *, n_boot: int = 1000,
                  exact: bool = False) -> pd.DataFrame:
    """The numbers behind the report: per config, seed, split, group and metric, the value and
    its 95% bootstrap interval over examples."""
    rows = []
    cfgs = [parse_variant(c, results.groups) if isinstance(c, str) else c for c in configs]
    if not cfgs:
        raise ValueError("give at least one configuration to report on")
    for c in cfgs:
        for seed, sr in results.seeds.items():
            for split in ("val", "test"):
                m, est = config_margins(results, c, seed, split, exact=exact)
                t = rates_with_ci(m > 0, sr.labels[split], sr.masks[split], results.groups,
                                  n_boot=n_boot, seed=seed)
                rows.append(t.assign(config=c.label, spec=c.spec, seed=seed, split=split, estimated=est))
    out = pd.concat(rows, ignore_index=True)
    for bound in ("low", "high"):  # no intervals without resamples (n_boot=0)
        if bound not in out:
            out[bound] = np.nan
    return out


def _caveats(results: RunResults, m: pd.DataFrame) -> list[str]:
    from ..steering.views import health_warnings
    out = [f"{w['method']} is degenerate (seed {', '.join(map(str, w['seeds']))}): {w['reason']}. A constant "
           "predictor, or one no better than the majority class, is trivially fair: its DPD and EOD say nothing."
           for w in health_warnings(results)]
    from ..steering.configurations import extrapolation
    for spec in dict.fromkeys(m.loc[m.estimated.astype(bool), "spec"]) if "estimated" in m else ():
        why = extrapolation(results, spec)
        if why:
            out.append(f"{spec} is estimated, and {why}: its figures may be far off; evaluate it exactly (--exact).")
    for seed, sr in results.seeds.items():
        for j, g in enumerate(results.groups):
            n = int(sr.masks["test"][j].sum())
            pos = int((sr.masks["test"][j] & (sr.labels["test"] == 1)).sum())
            if n < SMALL_GROUP:
                out.append(f"{g} has only {n} test examples (seed {seed}); its rates move by "
                           f"{100 / max(n, 1):.1f} points per example, so differences of a few points are noise.")
            elif pos < FEW_POSITIVES:
                out.append(f"{g} has only {pos} positive test examples (seed {seed}); its TPR, and so its "
                           "EOD, rest on very few examples.")
    undefined = m[m.value.isna() & m.note.astype(bool)].drop_duplicates(["group", "metric", "note"])
    for _, r in undefined.iterrows():
        out.append(f"{r.metric.upper()} of {r.group} is undefined in some configurations: {r.note}.")
    if len(results.seeds) == 1:
        out.append("One seed only: the intervals cover the choice of test examples, not of training "
                   "randomness. Run more seeds (seeds: [13, 42, 7]) to see the spread over training.")
    if m.estimated.any():
        est = sorted(m.loc[m.estimated, "config"].unique())
        out.append(f"{', '.join(est)}: estimated from stored predictions, not run; evaluate exactly "
                   "(dashboard or --exact) before relying on them.")
    out.append("DPD and EOD compare each subgroup with the rest of the data (one against the rest); "
               "0 is parity. Worst-case values are the largest over subgroups.")
    return out


def _figure(m: pd.DataFrame, groups: Sequence[str]):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    test = m[(m.split == "test") & m.group.isin(groups)]
    agg = test.groupby(["config", "group", "metric"], sort=False).agg(
        value=("value", "mean"), low=("low", "mean"), high=("high", "mean"),
        seed_sd=("value", "std")).reset_index()
    metrics = ["accuracy", "dpd", "eod"]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[NAMES[x] for x in metrics])
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    for i, (cfg, part) in enumerate(agg.groupby("config", sort=False)):
        for k, metric in enumerate(metrics):
            p = part[part.metric == metric].set_index("group").reindex(list(groups))
            fig.add_trace(go.Bar(
                x=list(groups), y=p["value"], name=cfg, legendgroup=cfg, showlegend=k == 0,
                marker_color=palette[i % len(palette)],
                error_y=dict(type="data", symmetric=False, array=(p["high"] - p["value"]).clip(lower=0),
                             arrayminus=(p["value"] - p["low"]).clip(lower=0)),
                customdata=np.stack([p["low"], p["high"], p["seed_sd"].fillna(0)], axis=-1),
                hovertemplate="%{x}: %{y:.3f} (95% CI %{customdata[0]:.3f}–%{customdata[1]:.3f}; "
                              "seed SD %{customdata[2]:.3f})<extra>" + cfg + "</extra>"), row=1, col=k + 1)
    fig.update_layout(barmode="group", height=430, template="plotly_white",
                      margin=dict(l=40, r=20, t=60, b=40), legend=dict(orientation="h", y=-0.15))
    return fig


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="t", na_rep="undefined",
                      float_format=lambda v: f"{v:.3f}", escape=True)


def _min_size_section(results: RunResults) -> list[str]:
    """Worst-case DPD/EOD over the subgroups with at least n rows, for each n (FFT, LoRA, task
    addition): how much of the headline the small subgroups carry."""
    if len(results.groups) < 3:
        return []
    e = min_size_effect(results)
    wide = e.pivot_table(index=["min_size", "groups_kept", "kept"], columns=["method", "metric"], values="value",
                         sort=False)
    wide.columns = [f"{meth} {met}" for meth, met in wide.columns]
    return ["<h2 id='min-size'>Effect of a minimum subgroup size (test)</h2>",
            "<p>Worst-case DPD and EOD over the subgroups with at least this many rows (as "
            "<code>dataset.min_group_size</code> counts them; mean over seeds). Where the worst case drops as "
            "the threshold rises, the headline was carried by the small subgroups.</p>",
            _table(wide.reset_index())]


def _bound_section(results: RunResults) -> list[str]:
    """Finding (e) per path: how much of the scaling bound's envelope the measured test curves use,
    and where they leave it."""
    from ..steering.bound import scaling_bound
    try:
        t = scaling_bound(results, split="test")
    except (StoreError, OSError, KeyError):
        return []
    t = t[t.lam != t.ref_lam]
    if not len(t):
        return []
    rows = []
    for (family, target), part in t.groupby(["family", "target"], sort=False):
        rows.append({"path": "θ0 + λ Σ τ" if family == "uniform" else
                     (f"θ0 + λ τ_{target}" if family == "axis" else f"θ_FFT + λ τ_{target}"),
                     "reference λ": part.ref_lam.iloc[0], "‖v‖": part.norm.iloc[0],
                     "points inside": f"{part.inside.astype(bool).mean():.0%} of {len(part)}",
                     "envelope used (median)": part.used.median(), "largest measured change": (part.measured - part.reference).abs().max()})
    return ["<p><small>(e) per path, on test: the share of measured subgroup DPD/EOD values inside the bound's "
            "envelope from the path's reference point (K fitted on validation), and how much of the envelope they use."
            "</small></p>", _table(pd.DataFrame(rows))]


def _comparisons_section(found) -> list[str]:
    """Every comparison behind the findings, with its interval and p-values."""
    rows = [{"finding": f.key, "comparison": t["comparison"], "estimate": t["estimate"],
             "95% interval": f"[{t['low']:.3f}, {t['high']:.3f}]", "p": t["p"],
             "p (Holm)": t.get("p_holm", t.get("p_far_holm", float("nan"))), "note": t.get("note", "")}
            for f in found for t in f.tests]
    if not rows:
        return []
    return ["<details><summary>The comparisons behind each verdict</summary>", _table(pd.DataFrame(rows)),
            "</details>"]


def _thresholds_section(results: RunResults, n_boot: int) -> list[str]:
    """Merges against the standard post-processing fix: per-group thresholds (fairlearn) over
    FFT, LoRA and task addition at the chosen λ, with the verdict against every merge."""
    from ..metrics.tables import with_intervals
    from ..steering.thresholds import THRESHOLD_CAVEAT, threshold_points
    from ..steering.views import chosen_configs, frontier_points, methods_headline, thresholds_against_merges
    extra = threshold_points(results, chosen_configs(results), n_boot=min(n_boot, 500))
    if not len(extra):
        return []
    head = with_intervals(methods_headline(results, split="test", extra=extra))
    verdicts = [thresholds_against_merges(frontier_points(results, unfairness=u, extra=extra), u, results=results)
                for u in ("worst_dpd", "worst_eod")]
    esc = html.escape
    return ["<h2 id='thresholds'>Against per-group thresholds (test)</h2>",
            "<p>fairlearn's ThresholdOptimizer fitted on validation over each method's margins (subgroup as the "
            "sensitive feature; an example in several subgroups is its own category), for demographic parity (DP) "
            f"or equalized odds (EO). <b>{esc(THRESHOLD_CAVEAT)}</b></p>", _table(head),
            *[f"<p>{esc(v.replace(THRESHOLD_CAVEAT, '').strip())}</p>" for v in verdicts if v]]


def _counterfactual_section(results: RunResults, configs: Sequence[str | Variant]) -> list[str]:
    """Counterfactual identity tests of the report's configurations (first seed, test split, exact)."""
    from ..data.images import is_image_run
    from ..steering.counterfactual import counterfactual_test
    if is_image_run(results.config):
        return []
    frames = []
    for c in configs:
        cf = counterfactual_test(results, c)
        frames.append(cf.table.assign(configuration=cf.config))
    t = pd.concat(frames, ignore_index=True)
    t = t[["configuration"] + [c for c in t.columns if c != "configuration"]]
    return ["<h2 id='counterfactual'>Counterfactual identity test (test, exact)</h2>",
            "<p>Each subgroup's test comments with their identity terms swapped for the opposite group's "
            "(RedditBias's own term lists: women → men, Muslims → Christians, Black people → White people, …), "
            "run through each configuration: how often the prediction flips when only the identity term changes, "
            f"and the mean change of the margin (positive: towards hostile). Seed {next(iter(results.seeds))}.</p>",
            _table(t)]


def html_report(results: RunResults, configs: Sequence[str | Variant], *, n_boot: int = 1000,
                exact: bool = False, title: str | None = None, counterfactual: bool = True) -> str:
    """The whole report as one HTML string (plotly.js inlined)."""
    m = report_frames(results, configs, n_boot=n_boot, exact=exact)
    groups = list(results.groups)
    # headline: validation and test side by side (choose on validation, report on test)
    head = m[(m.group == ALL) & m.metric.isin(HEADLINE_METRICS)]
    wide = head.groupby(["config", "metric", "split"], sort=False)["value"].mean().unstack(["metric", "split"])
    cols = [(mt, sp) for mt in HEADLINE_METRICS for sp in ("val", "test") if (mt, sp) in wide.columns]
    wide = wide[cols]
    wide.columns = [f"{NAMES[mt]} ({sp})" for mt, sp in cols]
    wide = wide.reset_index()
    # per-group test table with intervals (first seed) and seed means
    per = m[(m.split == "test") & m.group.isin(groups)].groupby(["config", "group", "metric"], sort=False).agg(
        value=("value", "mean"), ci_low=("low", "mean"), ci_high=("high", "mean")).reset_index()
    per["metric"] = per.metric.map(NAMES)
    fig_html = _figure(m, groups).to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})

    cfg = results.config
    run = results.open_run()
    prov_rows = [("run", results.run_id), ("model", cfg["model"]),
                 ("dataset", f"{cfg['dataset']['name']}" + (f", attribute {cfg['dataset'].get('attribute')}"
                                                          if cfg["dataset"].get("attribute") else "")),
                 ("subgroups", ", ".join(groups)), ("seeds", ", ".join(map(str, results.seeds)))]
    for seed, sr in results.seeds.items():
        prov_rows.append((f"θ0 weights sha256 (seed {seed})", run.base_sha256(seed)))
        prov_rows.append((f"test data sha256 (seed {seed})",
                          eval_data_sha256(results.data["text"].to_numpy()[sr.index["test"]].tolist(),
                                           sr.labels["test"], sr.masks["test"], groups,
                                           images=is_image_run(cfg))))
        prov_rows.append((f"examples val / test (seed {seed})", f"{len(sr.labels['val'])} / {len(sr.labels['test'])}"))
        for g in groups:
            prov_rows.append((f"τ_{g} sha256 (seed {seed})", run.vector_sha256(seed, g)))
    versions = package_versions()
    coef_rows = []
    for c in dict.fromkeys(m.spec):
        cc = parse_variant(c, groups)
        if cc.family == "remix":
            coef_rows.append({"configuration": cc.label, **{f"λ {g}": v for g, v in zip(groups, cc.lams)}})
        elif cc.family in ("uniform", "inject", "axis"):
            coef_rows.append({"configuration": cc.label, "λ": cc.lam, **({"subgroup": cc.target} if cc.target else {})})
    chosen = results.summary.get("chosen_lambda", {})
    caveats = _caveats(results, m)
    found = findings(results, split="test")
    esc = html.escape
    title = title or f"Fairness report — {results.run_id}"
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>",
        "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;"
        "padding:0 1em;color:#222}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}"
        "table.t{border-collapse:collapse;font-size:.9em;margin:.5em 0}table.t td,table.t th{padding:.25em .6em;"
        "border-bottom:1px solid #eee;text-align:right}table.t td:first-child,table.t th:first-child{text-align:left}"
        ".caveat{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}code{font-size:.85em}",
        "</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Created {created} by taskfair from run <code>{esc(results.run_id)}</code>. Merged models are "
        "<code>θ = θ0 + Σ λ_g τ_g</code> with one task vector per subgroup. Coefficients are chosen on the "
        "validation split; the figures that matter are the test ones, shown beside them.</p>",
        "<h2 id='findings'>The study's findings on this run (test)</h2><ul>",
        *[f"<li><b>({esc(f.key)}) {esc(f.claim)}</b> — <b>{esc(f.verdict)}</b><br><small>{esc(f.evidence)}</small></li>"
          for f in found],
        "</ul><p><small>Each verdict is decided by paired differences: one set of bootstrap resamples of the "
        "test examples shared by every configuration of a seed, two-level across seeds (seed-to-seed "
        "variation included); the comparisons behind one verdict are Holm-corrected; <i>inconclusive</i>: the "
        "intervals cannot tell." + ("" if len(results.seeds) > 1 else
                                     " <b>One seed: seed-to-seed variation is not measured.</b>") + "</small></p>",
        *_comparisons_section(found),
        *_bound_section(results),
        "<h2 id='headline'>Headline (mean over seeds)</h2>", _table(wide),
        f"<p>λ of plain task addition chosen on validation: {esc(json.dumps(chosen))}.</p>",
        *_thresholds_section(results, n_boot),
        "<h2 id='subgroups'>Per subgroup (test)</h2>",
        "<p>Bars: value (mean over seeds); whiskers: 95% bootstrap interval over test examples "
        f"({n_boot} resamples). Hover for the spread over seeds. Two intervals that overlap do not "
        "test a difference (nor do two that do not): the differences the findings rest on are paired "
        "and listed above with their own intervals.</p>", fig_html, _table(per),
        *_min_size_section(results),
        *(_counterfactual_section(results, list(dict.fromkeys(m.spec))) if counterfactual else []),
        "<h2 id='coefficients'>Coefficients</h2>",
        _table(pd.DataFrame(coef_rows)) if coef_rows else "<p>No merged configuration in this report.</p>",
        "<h2 id='caveats'>Caveats</h2><div class='caveat'><ul>",
        *[f"<li>{esc(c)}</li>" for c in caveats], "</ul></div>",
        "<h2 id='provenance'>Data and model provenance</h2>",
        _table(pd.DataFrame(prov_rows, columns=["what", "value"])),
        "<p>Packages: " + esc(", ".join(f"{k} {v}" for k, v in sorted(versions.items()))) + "</p>",
        "</body></html>",
    ]
    return "\n".join(parts)
