"""λ sweep: macro accuracy, worst-case DPD and EOD against the uniform λ (the paper's Figure 2)."""
from __future__ import annotations

import streamlit as st

from ui import charts, common, loaders

present, root, run_id, mtime, res, split, groups = common.page("λ sweep", needs=("eval/uniform",))

st.title("Uniform λ sweep")
st.caption("θ0 + λ Σ_g τ_g for λ on the stored grid; dashed: FFT, dotted: LoRA. " + charts.ERRORS)
sweep = loaders.uniform_sweep(root, run_id, mtime, split, False)
metrics = st.multiselect("Metrics", ["accuracy", "macro_accuracy", "worst_dpd", "worst_eod"],
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
