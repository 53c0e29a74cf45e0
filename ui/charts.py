"""Plotly figures built from the tidy tables of ``taskfair.reporting`` (no Streamlit here)."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from taskfair.methods import grid_methods

NAMES = {"accuracy": "Accuracy", "dpd": "DPD", "eod": "EOD", "macro_accuracy": "Macro accuracy",
         "worst_dpd": "Worst-case DPD", "worst_eod": "Worst-case EOD"}
COLORS = {"FFT": "#1f77b4", "LoRA": "#ff7f0e", "task addition": "#2ca02c"}
# Frontier families: the Okabe–Ito colour-blind-safe palette, and a marker of their own, so
# families stay apart without colour too (in print, and for colour-blind readers)
FAMILY_STYLE = {"base": ("#000000", "diamond"), "fft": ("#0072B2", "square"), "lora": ("#E69F00", "square"),
                "subgroup": ("#CC79A7", "triangle-up"), "uniform": ("#009E73", "circle"),
                "inject": ("#D55E00", "triangle-down"), "axis": ("#56B4E9", "cross"),
                "pair": ("#0072B2", "pentagon"), "probe": ("#000000", "circle-open"),
                "thresholds": ("#000000", "star-diamond")}
# the merge methods of taskfair.methods, in the order they were registered
METHOD_STYLES = (("#D55E00", "hexagon"), ("#009E73", "star-square"), ("#CC79A7", "hourglass"),
                 ("#56B4E9", "bowtie"), ("#E69F00", "star-triangle-up"), ("#0072B2", "asterisk-open"))


def family_styles() -> dict[str, tuple[str, str]]:
    """Colour and marker of every Frontier family, the registered merge methods included."""
    return {**FAMILY_STYLE, **{m: METHOD_STYLES[i % len(METHOD_STYLES)] for i, m in enumerate(grid_methods())}}
TEMPLATE = "plotly_white"


def _arms(value: pd.Series, low: pd.Series, high: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The upper and lower error-bar arms of an interval around ``value`` (never negative)."""
    return (high - value).clip(lower=0), (value - low).clip(lower=0)


_CI_HOVER = "%{y} · %{x}: %{z:.3f} (95% CI %{customdata[0]:.3f}–%{customdata[1]:.3f})<extra></extra>"


def with_errors(df: pd.DataFrame) -> pd.DataFrame:
    """``err_plus``/``err_minus`` columns: the 95% bootstrap interval over examples where the run
    has one (mean over seeds), else the standard error over seeds; ``sem`` stays for hovering."""
    d = df.copy()
    if "low" in d.columns and d["low"].notna().any():
        plus, minus = _arms(d["mean"], d["low"], d["high"])
        d["err_plus"], d["err_minus"] = plus.fillna(0), minus.fillna(0)
    else:
        d["err_plus"] = d["err_minus"] = d["sem"].fillna(0)
    d["sem"] = d["sem"].fillna(0)
    return d


ERRORS = ("Error bars: 95% bootstrap interval over the evaluation examples (with several seeds, of the mean "
          "over seeds, seed-to-seed variation included); hover for the standard error over seeds. Overlapping "
          "bars do not test a difference: the findings' paired differences do.")


def method_bars(df: pd.DataFrame) -> go.Figure:
    """Grouped bars per subgroup, one panel per metric, with intervals (see :func:`with_errors`)."""
    d = with_errors(df).assign(metric=df.metric.map(NAMES))
    fig = px.bar(d, x="group", y="mean", color="method", barmode="group", facet_col="metric",
                 error_y="err_plus", error_y_minus="err_minus", hover_data={"sem": ":.3f"},
                 color_discrete_map=COLORS, template=TEMPLATE,
                 labels={"mean": "", "group": "subgroup"}, height=380)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_yaxes(matches=None, showticklabels=True)
    return fig


def sweep_lines(df: pd.DataFrame, metrics: list[str]) -> go.Figure:
    """Metrics against the uniform λ with FFT and LoRA as dashed reference lines (Figure 2)."""
    fig = go.Figure()
    palette = px.colors.qualitative.D3
    for i, metric in enumerate(metrics):
        color = palette[i % len(palette)]
        u = with_errors(df[(df.family == "uniform") & (df.metric == metric)].sort_values("lam"))
        fig.add_trace(go.Scatter(x=u.lam, y=u["mean"], name=NAMES.get(metric, metric), mode="lines+markers",
                                 line=dict(color=color), customdata=u["sem"],
                                 hovertemplate="λ=%{x}: %{y:.3f} (SE over seeds %{customdata:.3f})",
                                 error_y=dict(type="data", symmetric=False, array=u["err_plus"],
                                              arrayminus=u["err_minus"],
                                              visible=bool((u["err_plus"] + u["err_minus"]).any()))))
        lo, hi = (float(u.lam.min()), float(u.lam.max())) if len(u) else (0.0, 1.0)
        for fam, dash, name in (("fft", "dash", "FFT"), ("lora", "dot", "LoRA")):
            ref = df[(df.family == fam) & (df.metric == metric)]
            if len(ref):
                y = float(ref["mean"].iloc[0])
                fig.add_trace(go.Scatter(x=[lo, hi], y=[y, y], mode="lines",
                                         name=f"{name} · {NAMES.get(metric, metric)}",
                                         line=dict(color=color, dash=dash, width=1.5)))
    fig.update_layout(template=TEMPLATE, xaxis_title="λ (uniform, over the sum of subgroup vectors)",
                      yaxis_title="", height=420, legend=dict(orientation="h", y=-0.2))
    return fig


def group_lines(df: pd.DataFrame, metric: str, family: str = "uniform", x_title: str = "λ") -> go.Figure:
    d = with_errors(df[(df.family == family) & (df.metric == metric)].sort_values("lam"))
    fig = px.line(d, x="lam", y="mean", color="group", markers=True, error_y="err_plus",
                  error_y_minus="err_minus", hover_data={"sem": ":.3f"}, template=TEMPLATE,
                  labels={"lam": x_title, "mean": NAMES.get(metric, metric)}, height=340)
    ref = df[(df.family == "fft") & (df.metric == metric)]
    for _, r in ref.iterrows():
        fig.add_hline(y=r["mean"], line=dict(dash="dash", width=1, color="grey"))
    return fig


HEATMAP_FONT = 13   # px: cell text legible on a 1400-px-wide screen (checked by tests/test_browser.py)


@functools.lru_cache(maxsize=None)
def _colorscale(name: str) -> tuple:
    """A named plotly colour scale, expanded (plotly's lookup validates every name: ~1 ms a move)."""
    from plotly.colors import get_colorscale
    return tuple(tuple(step) for step in get_colorscale(name))


def _heatmap(table: pd.DataFrame, *, scale: str, fmt: str, title: str, height: int) -> go.Figure:
    # a figure written out and built without plotly's validation (``_validate=False``): the
    # validated build took ~14 ms of a slider move's page, the unvalidated one ~4 ms; the spec
    # is fixed and drawn by the page and browser tests. A named colour scale is expanded here
    # (plotly.js knows only a few names), as validation would have.
    trace = dict(type="heatmap", z=table.to_numpy(dtype=float), x=list(table.columns), y=list(table.index),
                 colorscale=_colorscale(scale), texttemplate=f"%{{z:{fmt}}}", hoverongaps=False,
                 # fixed, not plotly's automatic size (which shrinks with the cell)
                 textfont=dict(size=HEATMAP_FONT), colorbar=dict(title=dict(text=title), thickness=12))
    # no template: a full heatmap hides the background anyway
    layout = dict(height=height, margin=dict(t=40 if title else 10, b=10, l=10, r=10), title=dict(text=title),
                  xaxis=dict(title=dict(text="subgroup")), yaxis=dict(autorange="reversed"),
                  paper_bgcolor="white", plot_bgcolor="white")
    return go.Figure(dict(data=[trace], layout=layout), _validate=False)


def heatmap(df: pd.DataFrame, metric: str, *, rows: list[str] | None = None,
            intervals: bool = True) -> go.Figure:
    """Rows (FFT, then λ values) × subgroup columns for one metric (Figure 3). With
    ``intervals`` each cell also shows its 95% bootstrap interval under the value; a cell whose
    paired difference from the FFT cell of its subgroup has a 95% interval that includes zero
    (``diff_low``/``diff_high``; without them, whose interval overlaps FFT's) shows ``≈value`` (not
    bold): a change from FFT that is within the noise reads as such."""
    d = df[df.metric == metric]
    table = d.pivot_table(index="row", columns="group", values="mean", sort=False)
    if rows is not None:
        table = table.reindex([r for r in rows if r in table.index])
    scale = "RdYlGn" if metric == "accuracy" else "RdYlGn_r"
    has_ci = intervals and "low" in d.columns and d["low"].notna().any()
    fig = _heatmap(table, scale=scale, fmt=".2f", title=NAMES.get(metric, metric),
                   height=90 + (46 if has_ci else 34) * len(table))
    if not has_ci:
        return fig
    lo = d.pivot_table(index="row", columns="group", values="low", sort=False).reindex(
        index=table.index, columns=table.columns).to_numpy(float)
    hi = d.pivot_table(index="row", columns="group", values="high", sort=False).reindex(
        index=table.index, columns=table.columns).to_numpy(float)
    z = table.to_numpy(float)
    noise = np.zeros_like(z, dtype=bool)
    if "FFT" in table.index:
        f = list(table.index).index("FFT")
        if "diff_low" in d.columns and d["diff_low"].notna().any():
            dlo, dhi = (d.pivot_table(index="row", columns="group", values=c, sort=False).reindex(
                index=table.index, columns=table.columns).to_numpy(float) for c in ("diff_low", "diff_high"))
            noise = ~((dlo > 0) | (dhi < 0))
        else:
            noise = (lo <= hi[f]) & (hi >= lo[f])
        noise[f] = False
    text = [[("" if np.isnan(v) else
              (f"≈{v:.2f}" if n else f"<b>{v:.2f}</b>") +
              ("" if np.isnan(a) else f'<br><span style="font-size:10px">{a:.2f}–{b:.2f}</span>'))
             for v, a, b, n in zip(zr, lr, hr, nr)] for zr, lr, hr, nr in zip(z, lo, hi, noise)]
    # a fixed font size: plotly's automatic one shrinks two-line cells until they are unreadable
    fig.update_traces(text=text, texttemplate="%{text}", textfont=dict(size=HEATMAP_FONT), customdata=np.dstack([lo, hi]),
                      hovertemplate=_CI_HOVER)
    return fig


def _cells(df: pd.DataFrame, rows: list[str], cols: list[str], value: str) -> np.ndarray:
    """``df``'s ``value`` as a metric × group array (NaN where absent): a pivot without pandas'
    pivot_table, which costs a slider move several milliseconds."""
    at = {(m, g): v for m, g, v in zip(df["metric"], df["group"], df[value])}
    return np.array([[at.get((m, g), np.nan) for g in cols] for m in rows], dtype=float)


def remix_heatmap(df: pd.DataFrame, groups: list[str]) -> go.Figure:
    rows = ["accuracy", "dpd", "eod"]
    table = pd.DataFrame(_cells(df, rows, groups, "mean"), index=[NAMES[m] for m in rows], columns=groups)
    fig = _heatmap(table, scale="Blues", fmt=".3f", title="", height=260)
    if "low" in df.columns:  # the 95% interval over the examples on hover
        fig.update_traces(customdata=np.dstack([_cells(df, rows, groups, "low"), _cells(df, rows, groups, "high")]),
                          hovertemplate=_CI_HOVER)
    return fig


def frontier(df: pd.DataFrame, unfairness: str, remixes: pd.DataFrame | None = None) -> go.Figure:
    extra = {}
    if f"{unfairness}_low" in df.columns and df[f"{unfairness}_low"].notna().any():
        xp, xm = _arms(df[unfairness], df[f"{unfairness}_low"], df[f"{unfairness}_high"])
        yp, ym = _arms(df["accuracy"], df["accuracy_low"], df["accuracy_high"])
        df = df.assign(_xp=xp, _xm=xm, _yp=yp, _ym=ym)
        extra = dict(error_x="_xp", error_x_minus="_xm", error_y="_yp", error_y_minus="_ym")
    bad = df[df["degenerate"]] if "degenerate" in df else df.iloc[:0]
    df = df[~df["degenerate"]] if "degenerate" in df else df
    if "front_share" in df.columns:
        extra["hover_data"] = {"front share": df["front_share"].map(
            lambda v: "no resamples" if pd.isna(v) else f"{v:.0%} of resamples")}
    fig = px.scatter(df, x=unfairness, y="accuracy", color="family", symbol="family", hover_name="label",
                     color_discrete_map={f: c for f, (c, _) in family_styles().items()},
                     symbol_map={f: m for f, (_, m) in family_styles().items()},
                     template=TEMPLATE, height=480, **extra,
                     labels={unfairness: NAMES[unfairness], "accuracy": "Accuracy"})
    if len(bad):  # constant predictors: trivially "fair", never on the front
        fig.add_trace(go.Scatter(x=bad[unfairness], y=bad["accuracy"], mode="markers",
                                 name="degenerate (constant predictor)", text=bad["label"],
                                 hovertext=[f"{l}: {r}" for l, r in zip(bad["label"], bad["degenerate_reason"])],
                                 hoverinfo="text", marker=dict(symbol="x", size=9, color="#999999")))
    if extra:
        fig.update_traces(error_x=dict(thickness=0.8, width=0), error_y=dict(thickness=0.8, width=0))
    front = df[df.pareto].sort_values(unfairness)
    robust = "front_share" in df.columns and df["front_share"].notna().any()
    fig.add_trace(go.Scatter(x=front[unfairness], y=front["accuracy"], mode="lines", name="Pareto front",
                             line=dict(color="black", dash="dash", width=1), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=front[unfairness], y=front["accuracy"], mode="markers",
                             name="on the front in ≥ 50% of resamples" if robust else "on the front",
                             marker=dict(symbol="circle-open", size=14, color="black"), hoverinfo="skip"))
    if robust:  # on the point-estimate front but not robustly: a thin ring, so the noise shows
        shaky = df[df.get("pareto_estimate", False) & ~df.pareto]
        if len(shaky):
            fig.add_trace(go.Scatter(x=shaky[unfairness], y=shaky["accuracy"], mode="markers",
                                     name="on the estimate's front only (< 50% of resamples)",
                                     marker=dict(symbol="circle-open", size=14, color="#888888",
                                                 line=dict(width=1, dash="dot")), hoverinfo="skip"))
    if remixes is not None and len(remixes):
        fig.add_trace(go.Scatter(x=remixes[unfairness], y=remixes["accuracy"], mode="markers",
                                 name="your remixes (estimate)", text=remixes["label"],
                                 marker=dict(symbol="star", size=12, color="#d62728")))
    return fig


def confirmed(table: pd.DataFrame) -> go.Figure:
    """The exactly confirmed search candidates: validation beside test for accuracy and worst-case
    DPD/EOD, each with its 95% interval, so overfitting to validation (or noise) is visible."""
    rows = []
    for i, r in table.reset_index(drop=True).iterrows():
        for split in ("val", "test"):
            for metric in ("accuracy", "worst_dpd", "worst_eod"):
                col = f"{split} {metric} (exact)"
                rows.append({"candidate": f"#{i + 1}", "split": split, "metric": NAMES.get(metric, metric),
                             "value": r[col], "low": r.get(f"{col} low", np.nan),
                             "high": r.get(f"{col} high", np.nan)})
    d = pd.DataFrame(rows)
    d["_yp"], d["_ym"] = _arms(d["value"], d["low"], d["high"])
    fig = px.bar(d, x="candidate", y="value", color="split", facet_col="metric", barmode="group",
                 error_y="_yp", error_y_minus="_ym", template=TEMPLATE, height=320,
                 color_discrete_map={"val": "#9ecae1", "test": "#08519c"},
                 labels={"value": "", "candidate": "candidate"})
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(margin=dict(t=50, b=10, l=10, r=10))
    return fig


def min_size_lines(df: pd.DataFrame) -> go.Figure:
    """Worst-case DPD and EOD against the minimum subgroup size (a step per threshold)."""
    d = df.assign(metric=df.metric.map(lambda m: NAMES.get(m, m)))
    fig = px.line(d, x="min_size", y="value", color="method", facet_col="metric", markers=True,
                  line_shape="hv", template=TEMPLATE, height=320, color_discrete_map=COLORS,
                  hover_data={"groups_kept": True, "kept": True},
                  labels={"min_size": "minimum subgroup size (rows)", "value": ""})
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.update_layout(margin=dict(t=40, b=10, l=10, r=10))
    return fig


def slope_scatter(sens: pd.DataFrame, y: str, y_title: str) -> go.Figure:
    """Each subgroup's fairness slope ``y`` against its vector's norm (marker size: training
    rows; one point per subgroup and seed), with the slope's 95% interval where there is one."""
    bars = {}
    if f"{y} low" in sens.columns:
        plus, minus = _arms(sens[y], sens[f"{y} low"], sens[f"{y} high"])
        sens = sens.assign(_yp=plus, _ym=minus)
        bars = dict(error_y="_yp", error_y_minus="_ym")
    fig = px.scatter(sens, x="norm", y=y, size="training rows", color="subgroup", template=TEMPLATE,
                     height=380, hover_data=["seed", "training rows"], labels={y: y_title}, **bars)
    fig.add_hline(y=0, line=dict(color="grey", dash="dot", width=1))
    return fig


def front_check(points: pd.DataFrame) -> go.Figure:
    """The search's estimated front and the same λ evaluated exactly (validation): open circles
    and a dashed line for the estimate, filled ones and a solid line for the exact front, a thin
    segment from each estimate to its exact point."""
    fig = go.Figure()
    for _, r in points.iterrows():
        fig.add_trace(go.Scatter(x=[r["unfairness (estimate)"], r["unfairness (exact)"]],
                                 y=[r["accuracy (estimate)"], r["accuracy (exact)"]], mode="lines",
                                 line=dict(color="#999999", width=1), hoverinfo="skip", showlegend=False))
    est = points.sort_values("unfairness (estimate)")
    fig.add_trace(go.Scatter(x=est["unfairness (estimate)"], y=est["accuracy (estimate)"], mode="lines+markers",
                             name="estimated front", line=dict(color="#0072B2", dash="dash"),
                             marker=dict(symbol="circle-open", size=11, color="#0072B2")))
    ex = points.sort_values("unfairness (exact)")
    fig.add_trace(go.Scatter(x=ex["unfairness (exact)"], y=ex["accuracy (exact)"], mode="markers",
                             name="the same λ, exact", marker=dict(symbol="circle", size=9, color="#D55E00")))
    on = ex[ex["on the exact front"]]
    fig.add_trace(go.Scatter(x=on["unfairness (exact)"], y=on["accuracy (exact)"], mode="lines", name="exact front",
                             line=dict(color="#D55E00"), hoverinfo="skip"))
    fig.update_layout(template=TEMPLATE, height=420, xaxis_title="max(worst DPD, worst EOD), validation",
                      yaxis_title="Accuracy, validation")
    return fig


def counterfactual_bars(table: pd.DataFrame) -> go.Figure:
    """Per subgroup, the share of swapped comments whose prediction flips, with the count on hover."""
    t = table[table["swapped"] > 0]
    fig = go.Figure(go.Bar(x=t["subgroup"], y=t["flip rate"], marker_color="#0072B2",
                           customdata=np.stack([t["flips"], t["swapped"], t["mean Δmargin"]], axis=1),
                           hovertemplate="%{x}: %{customdata[0]} of %{customdata[1]} flip (%{y:.1%}); "
                                         "mean Δmargin %{customdata[2]:+.3f}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, height=340, yaxis_title="Flip rate", yaxis_tickformat=".0%",
                      xaxis_title="Subgroup (its identity terms swapped)")
    return fig


def bound_envelope(df: pd.DataFrame, metric: str) -> go.Figure:
    """The scaling bound's envelope ``[lower, upper]`` around one path's measured curve (one
    subgroup, one metric, mean over seeds of each λ): points outside the envelope in red."""
    d = df[df.metric == metric].groupby("lam", as_index=False)[["measured", "lower", "upper", "reference"]].mean()
    ref = df["ref_lam"].iloc[0] if len(df) else np.nan
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=d.lam, y=d.upper, mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=d.lam, y=d.lower, mode="lines", line=dict(width=0), fill="tonexty",
                             fillcolor="rgba(86,180,233,0.25)", name="bound (envelope)",
                             customdata=np.stack([d.lower, d.upper], axis=1),
                             hovertemplate="λ=%{x}<br>allowed %{customdata[0]:.3f} – %{customdata[1]:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=d.lam, y=d.measured, mode="lines+markers", name=f"measured {NAMES.get(metric, metric)}",
                             line=dict(color="#0072B2")))
    out = d[(d.measured > d.upper + 1e-9) | (d.measured < d.lower - 1e-9)]
    if len(out):
        fig.add_trace(go.Scatter(x=out.lam, y=out.measured, mode="markers", name="outside the bound",
                                 marker=dict(symbol="x", size=11, color="#D55E00")))
    if np.isfinite(ref):
        fig.add_vline(x=ref, line=dict(color="#666", dash="dot"), annotation_text="reference")
    fig.update_layout(template=TEMPLATE, height=320, margin=dict(t=30, b=10, l=10, r=10),
                      xaxis_title="λ", yaxis_title=NAMES.get(metric, metric))
    return fig
