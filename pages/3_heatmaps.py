"""Heatmaps: FFT and each λ against the subgroups, for accuracy, DPD and EOD (the paper's
Figures 3 and 4), for uniform addition and for injecting one subgroup's vector into FFT."""
from __future__ import annotations

import streamlit as st

from ui import charts, common, loaders, state

present, root, run_id, mtime, res, split, groups = common.page("Heatmaps", needs=("eval/uniform", "eval/inject/"))

st.title("Per-subgroup heatmaps")
mode = st.radio("Merge", ["Inject into FFT", "Uniform addition"], horizontal=True, key="hm_mode")
if mode == "Inject into FFT":
    wanted = state.link_value("inject")
    if wanted is not None and wanted not in groups:
        st.warning(f"Ignoring ?inject={common.plain(repr(wanted), 80)} in the link: this run's subgroups are {', '.join(groups)}; "
                   f"showing the worst subgroup under FFT ({res.worst_subgroup}).")
    if wanted in groups:
        st.session_state["hm_inject"] = wanted
    elif st.session_state.get("hm_inject") not in groups:   # first visit, or another run's subgroup
        st.session_state["hm_inject"] = res.worst_subgroup
    target = st.selectbox("Subgroup vector injected: θ_FFT + λ τ_g", groups, key="hm_inject",
                          help="Preselected: the worst subgroup under FFT (highest mean of DPD and EOD).")
    state.write_link("inject", target)
    grid = loaders.family_grid(root, run_id, mtime, "inject", target, split)
    family = "inject"
else:
    grid = loaders.family_grid(root, run_id, mtime, "uniform", "", split)
    family, target = "uniform", ""
rows = ["FFT"] + sorted({r for r in grid.row if r != "FFT"}, key=lambda r: float(r.split("=")[1]))
has_ci = "low" in grid.columns and grid["low"].notna().any()
show_ci = st.toggle("95% intervals in the cells", value=has_ci, key="hm_ci", disabled=not has_ci,
                    help="Each cell: the value and, below it, its 95% bootstrap interval over the "
                         "evaluation examples (and seeds). ≈value: the paired difference from the FFT "
                         "cell of the same subgroup has a 95% interval that includes zero, so the change "
                         "from FFT may be noise. "
                         + ("" if has_ci else "This run has no intervals (eval.bootstrap: 0)."))
cols = st.columns(3)
for col, metric in zip(cols, ["accuracy", "dpd", "eod"]):
    col.plotly_chart(charts.heatmap(grid, metric, rows=rows, intervals=show_ci), width="stretch")
if show_ci:
    st.caption("Under each value: its 95% interval. Bold: the paired difference from FFT's cell for that "
               "subgroup (the same resampled examples for both) is clear of zero at 95%. ≈value: it is not, "
               "so the change from FFT may be noise. Cells are not corrected for multiplicity: with many "
               "cells some bold ones are expected by chance (the findings on the Overview are corrected).")

st.subheader("Per-subgroup lines")
lcols = st.columns(3)
for col, metric in zip(lcols, ["accuracy", "dpd", "eod"]):
    col.plotly_chart(charts.group_lines(grid, metric, family=family,
                                        x_title="λ" + (f" (τ_{target} into FFT)" if target else "")),
                     width="stretch")
st.caption("Grey dashed lines: FFT per subgroup. Values: mean over seeds. " + charts.ERRORS)
common.explain_undefined(grid)
common.table(grid, f"{run_id}-{family}{'-' + target if target else ''}-{split}", present=present)
