"""Frontier: accuracy against worst-case DPD or EOD for every evaluated configuration."""
from __future__ import annotations


import pandas as pd
import streamlit as st

from taskfair.steering.configurations import parse_variant, remix_coefficients
from ui import charts, common, loaders, state

present, root, run_id, mtime, res, split, groups = common.page("Frontier")

st.title("Fairness–accuracy frontier")
unf = st.radio("Unfairness", ["worst_dpd", "worst_eod"], horizontal=True, key="fr_unf",
               format_func=lambda m: charts.NAMES[m])
show_thr = st.toggle("Per-group thresholds (fairlearn's ThresholdOptimizer)", value=True, key="fr_thr",
                     help="The standard post-processing fix, fitted on validation over FFT, LoRA and task addition "
                          "at the chosen λ, for demographic parity (DP) and equalized odds (EO). They need each "
                          "example's subgroup at prediction time; a merged model does not.")
pts = loaders.frontier_points(root, run_id, mtime, split, unf, show_thr)
added = state.added_remixes(run_id)
remixes = pd.DataFrame([{**r.metrics, "label": r.label, "lams": r.lams} for r in added])
st.plotly_chart(charts.frontier(pts, unf, remixes if len(remixes) else None), width="stretch")
verdict = loaders.thresholds_verdict(root, run_id, mtime, split, unf) if show_thr else ""
if verdict:
    (st.warning if verdict.startswith("Negative") else st.info)(verdict)
if pts["degenerate"].any():
    st.warning(f"{int(pts['degenerate'].sum())} point(s) predict one class for nearly every example (or do not "
               "beat the majority class): drawn as grey crosses and kept off the Pareto front — their zero "
               "unfairness is that of a constant predictor.")
st.caption("Circled: the points on the Pareto front (no other configuration has both higher accuracy and "
           "lower unfairness) in at least half of the paired bootstrap resamples of the evaluation examples "
           "(and seeds); a dotted grey ring: on the point estimates' front, but in fewer than half the "
           "resamples — its place there may be noise. Hover a point for its share. Stars: remixes you added "
           "(estimates). Whiskers: 95% bootstrap intervals.")
robust = pts[pts.pareto & pts.front_share.notna()].sort_values("front_share", ascending=False)
if len(robust):
    st.markdown("**Robustly on the front:** " + ", ".join(f"{r.label} ({r.front_share:.0%})" for r in robust.itertuples()))
common.table(pts.drop(columns=["pareto"]).assign(on_front=pts.pareto), f"{run_id}-frontier-{split}",
             present=present)


def remix_lams(row) -> list[float] | None:
    """The point as θ0 + Σ λ_g τ_g, or None when it is not one (FFT, LoRA, injection, other merges)."""
    if not row.config or "@" in row.config:   # a random probe, or thresholds (no model)
        return None
    lams = remix_coefficients(parse_variant(row.config, groups), groups)
    return None if lams is None else list(lams)


loadable = [(r.label, remix_lams(r)) for r in pts.itertuples() if remix_lams(r) is not None]
loadable += [(r.label, list(r.lams)) for r in added]
on_front = set(pts.label[pts.pareto])
labels = [l for l, _ in loadable]
default = next((i for i, l in enumerate(labels) if l in on_front), 0)
choice = st.selectbox("Configuration to open in Remix", labels, index=default, key="fr_choice",
                      help="FFT, LoRA and injection points use the FFT vector and cannot be remixed.")
if st.button("Load into Remix", type="primary", key="fr_load"):
    state.load_into_remix(run_id, groups, dict(loadable)[choice], choice)

exportable = [(r.label, r.config) for r in pts.itertuples() if r.config and "@" not in r.config]  # thresholds are no model
if exportable:
    ex_labels = [l for l, _ in exportable]
    ex_default = next((i for i, l in enumerate(ex_labels) if l in on_front), 0)
    ex_choice = st.selectbox("Configuration to export", ex_labels, index=ex_default, key="fr_export_choice",
                             help="Any stored point: FFT, LoRA, injections, other merge methods and remixes alike.")
    if st.button("Export this point", key="fr_export"):
        state.export_point(dict(exportable)[ex_choice], ex_choice)
