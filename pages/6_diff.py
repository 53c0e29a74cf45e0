"""Which comments flip: the test examples whose prediction changes between two configurations,
by subgroup and direction, with their texts."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from taskfair.steering.configurations import VariantSpecError, config_forms, parse_variant
from taskfair.steering.diff import DIRECTIONS
from taskfair.data.images import is_image_run
from ui import common, loaders, state

present, root, run_id, mtime, res, split, groups = common.page("Diff")
images = is_image_run(res.config)
things = "images" if images else "comments"
st.title(f"Which {things} change their prediction")
st.caption(f"Compare two configurations example by example: what a change of λ does to real {things}, "
           "not only to rates.")

options = loaders.stored_configs(root, run_id, mtime)
remix = state.remix_config(run_id)   # the Remix page's coefficients, first
if remix:
    options = [remix] + options
chosen = next(iter(res.summary["chosen_lambda"].values()))
default_b = options[0] if remix else f"uniform:{chosen:g}"
c1, c2 = st.columns(2)
a = c1.selectbox("From (A)", options, index=options.index("fft"), key="diff_a")
b = c2.selectbox("To (B)", options, index=options.index(default_b) if default_b in options else 0, key="diff_b")
custom = st.text_input("…or type B", key="diff_custom", placeholder="e.g. remix:" + ",".join(["0.5"] * len(groups)),
                       help=config_forms())
if custom:
    try:
        parse_variant(custom, groups)
        b = custom
    except VariantSpecError as exc:
        st.warning(f"Ignoring the typed configuration: {common.plain(exc)}")
seed = st.selectbox("Seed", list(res.seeds), key="diff_seed") if len(res.seeds) > 1 else next(iter(res.seeds))

summary, examples, counts = loaders.example_diff(root, run_id, mtime, a, b, seed, split)
st.info(summary)
long = counts[counts.group != "(all)"].melt(id_vars=["group"], value_vars=list(DIRECTIONS),
                                            var_name="direction", value_name="examples")
fig = px.bar(long, x="group", y="examples", color="direction", barmode="group", template="plotly_white",
             height=360, color_discrete_sequence=["#d62728", "#2ca02c", "#ff7f0e", "#1f77b4"])
st.plotly_chart(fig, width="stretch")
common.table(counts, f"{run_id}-diff-counts-{split}", present=present)

st.subheader("The examples")
f1, f2 = st.columns(2)
pick_groups = f1.multiselect("Subgroups", groups, default=groups, key="diff_groups")
direction = f2.radio("Direction", ["all", *DIRECTIONS], horizontal=True, key="diff_dir")
shown = examples[examples.subgroups.map(lambda s: any(g in s.split(", ") for g in pick_groups))]
if direction != "all":
    col = "flag change" if direction in DIRECTIONS[:2] else "correctness change"
    shown = shown[shown[col] == direction]
st.caption(f"{len(shown)} of {len(examples)} changed examples. " +
           ("Label 1 = the positive class of the image CSV." if images else
            "Label 1 = biased/hateful per the dataset."))
if images and len(shown):
    first = shown.head(24)
    try:
        st.image([str(p) for p in first.text], width=96,
                 caption=[f"{r.subgroups} · label {r.label} · {r['flag change']}" for _, r in first.iterrows()])
    except Exception as exc:  # a moved or deleted image folder: the table below still says which files
        st.warning(f"Cannot show the images ({common.plain(exc)}); the paths are in the table below.")
common.table(shown, f"{run_id}-diff-examples-{split}", present=False)
