"""λ sweep: macro accuracy, worst-case DPD and EOD against the uniform λ (the paper's Figure 2)."""
from __future__ import annotations

import streamlit as st

from taskfair.metrics import HEADLINE_METRICS
from ui import charts, common, loaders

present, root, run_id, mtime, res, split, groups = common.page("λ sweep", needs=("eval/uniform",))

st.title("Uniform λ sweep")
st.caption("θ0 + λ Σ_g τ_g for λ on the stored grid; dashed: FFT, dotted: LoRA. " + charts.ERRORS)
sweep = loaders.uniform_sweep(root, run_id, mtime, split, False)
metrics = st.multiselect("Metrics", list(HEADLINE_METRICS),
                         default=["macro_accuracy", "worst_dpd", "worst_eod"],
                         format_func=lambda m: charts.NAMES[m])
st.plotly_chart(charts.sweep_lines(sweep, metrics), width="stretch")
chosen = res.summary["chosen_lambda"]
st.caption(f"λ chosen on validation accuracy, per seed: {chosen}.")
common.table(sweep, f"{run_id}-sweep-{split}", present=present)

if st.toggle("Per-subgroup curves", value=False, key="per_group"):
    per = loaders.uniform_sweep(root, run_id, mtime, split, True)
    cols = st.columns(3)
    for col, metric in zip(cols, ["accuracy", "dpd", "eod"]):
        col.plotly_chart(charts.group_lines(per, metric), width="stretch")
    common.explain_undefined(per)
    common.table(per, f"{run_id}-sweep-groups-{split}", present=present)

st.subheader("How far can fairness move? The scaling bound")
st.caption("From a reference point on a path (uniform: the λ chosen on validation; a subgroup's axis: its "
           "own model, λ = 1; an injection: FFT), an example's prediction can change only if its margin is "
           "within K·|Δλ|·‖τ‖ of zero, where K is the fastest change of any margin per unit of λ‖τ‖ seen "
           "between neighbouring stored points on validation. The shaded band is the DPD or EOD that this "
           "allows on this split; a red cross is a measured point outside it, where the validation K is not "
           "a bound on this run. The argument: `taskfair/steering/bound.py`.")
if not res.finished:
    st.info("The bound is checked once the run has finished.")
else:
    bound = loaders.scaling_bound(root, run_id, mtime, split)
    if not len(bound):
        st.info("No path with two stored points and a stored task vector.")
    else:
        paths = list(dict.fromkeys(zip(bound.family, bound.target)))
        c = st.columns(3)
        path = c[0].selectbox("Path", paths, key="bound_path",
                              format_func=lambda p: "uniform θ0 + λ Σ τ" if p[0] == "uniform" else
                              (f"axis θ0 + λ τ_{p[1]}" if p[0] == "axis" else f"inject θ_FFT + λ τ_{p[1]}"))
        grp = c[1].selectbox("Subgroup", list(groups), key="bound_group")
        met = c[2].radio("Metric", ["dpd", "eod"], horizontal=True, key="bound_metric",
                         format_func=lambda m: charts.NAMES[m])
        part = bound[(bound.family == path[0]) & (bound.target == path[1]) & (bound.group == grp)]
        st.plotly_chart(charts.bound_envelope(part, met), width="stretch")
        moved = bound[bound.lam != bound.ref_lam]
        st.caption(f"Over every path, subgroup and metric: {moved.inside.astype(bool).mean():.1%} of the "
                   f"{len(moved)} measured points lie inside the bound; K = "
                   + ", ".join(f"{k:.3g}" for k in sorted(set(bound.K))) + ".")
