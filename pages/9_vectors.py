"""Task vectors: norms per subgroup and per layer, cosine similarities, and how norm and subgroup
size relate to the change in DPD/EOD as λ grows."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from ui import charts, common, loaders

present, root, run_id, mtime, res, split, groups = common.page("Vectors")
st.title("Task-vector analysis")
seed = st.selectbox("Seed", list(res.seeds), key="vec_seed") if len(res.seeds) > 1 else next(iter(res.seeds))
t = loaders.vector_tables(root, run_id, mtime, seed)

c1, c2 = st.columns(2)
c1.plotly_chart(px.bar(t["norms"], x="vector", y="norm", hover_data=["training rows"], template="plotly_white",
                       height=340, title="‖τ‖ (L2 norm)"), width="stretch")
cos = t["cosine"]
c2.plotly_chart(px.imshow(cos, text_auto=".2f", color_continuous_scale="Blues", zmin=0, zmax=1, height=340,
                          title="cosine similarity"), width="stretch")
layers = t["layers"].pivot_table(index="vector", columns="layer", values="norm", sort=False)
st.plotly_chart(px.imshow(layers, text_auto=".2f", aspect="auto", color_continuous_scale="Viridis",
                          height=120 + 30 * len(layers), title="norm per layer"), width="stretch")

st.subheader(f"Does a bigger vector or a bigger subgroup move fairness more? ({split})")
sens = loaders.sensitivity(root, run_id, mtime, split)
family = st.radio("Along", ["axis", "inject"], horizontal=True, key="vec_family",
                  format_func=lambda f: {"axis": "its own axis θ0 + λ τ_g", "inject": "injection θ_FFT + λ τ_g"}[f])
metric = st.radio("Change in", ["dpd", "eod"], horizontal=True, key="vec_metric", format_func=charts.NAMES.get)
y = f"{family} d{metric}/dλ"
st.plotly_chart(charts.slope_scatter(sens, y, f"slope of the subgroup's own {charts.NAMES[metric]} per unit λ"),
                width="stretch")
if f"{y} low" in sens.columns:   # 95% bootstrap interval of each slope (examples resampled, line refitted)
    st.caption("Error bars: 95% bootstrap interval of the slope (the evaluation examples resampled and the "
               "line refitted); one point per subgroup and seed. A bar that crosses the dotted zero line "
               "is a slope that may be noise.")
if len(sens) > 2:
    r_norm = sens["norm"].corr(sens[y])
    r_size = sens["training rows"].corr(sens[y])
    st.caption(f"Pearson r with the slope: norm {r_norm:+.2f}, subgroup size {r_size:+.2f} "
               f"({len(sens)} points; with this few subgroups, read them as hints, not findings).")
common.table(sens, f"{run_id}-vector-sensitivity-{split}", present=present)
common.table(t["norms"], f"{run_id}-vector-norms", present=present)
