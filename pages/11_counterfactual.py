"""Counterfactual identity test: each subgroup's comments with their identity terms swapped for the
opposite group's, run through any configuration (exactly): how often the prediction flips."""
from __future__ import annotations

import streamlit as st

from taskfair.data.images import is_image_run
from taskfair.steering.configurations import VariantSpecError, parse_variant
from ui import charts, common, loaders, state

present, root, run_id, mtime, res, split, groups = common.page("Counterfactual")
st.title("Counterfactual identity test")
st.caption("The same comment with only its identity term changed — *women* → *men*, *Muslims* → *Christians*, "
           "*Black people* → *White people* (RedditBias's own term lists) — should get the same prediction. "
           f"Also: `python -m taskfair counterfactual --run {run_id} --config fft`.")
if is_image_run(res.config):
    st.info("This run's dataset is images: there are no identity terms to swap.")
    st.stop()

options = loaders.stored_configs(root, run_id, mtime)
remix = state.remix_config(run_id)   # the Remix page's coefficients, first
if remix:
    options = [remix] + options
c1, c2 = st.columns([3, 1])
spec = c1.selectbox("Configuration", options, index=options.index("fft") if "fft" in options else 0, key="cf_config")
typed = c1.text_input("…or type one", key="cf_custom", placeholder="e.g. remix:" + ",".join(["-0.5"] + ["0.5"] * (len(groups) - 1)))
seed = c2.selectbox("Seed", list(res.seeds), key="cf_seed")
spec = typed.strip() or spec
try:
    parse_variant(spec, groups)
except VariantSpecError as exc:
    st.error(common.plain(exc, 600))
    st.stop()
key = (run_id, spec, int(seed), split)
done = st.session_state.setdefault("cf_done", {})
if st.button("Run the test", type="primary", key="cf_go",
             help="Merges the configuration and runs the model on each subgroup's original and swapped comments"):
    bar = st.progress(0.0, text="Merging…")
    done[key] = loaders.counterfactual(root, run_id, mtime, spec, int(seed), split,
                                       _progress=lambda f, t: bar.progress(min(max(f, 0.0), 1.0), text=t))
    bar.empty()
if key not in done:
    st.info("Choose a configuration and press *Run the test* (it runs the model; the sliders elsewhere stay as they are).")
    st.stop()
summary, table, examples = done[key]
st.success(summary)
st.plotly_chart(charts.counterfactual_bars(table), width="stretch")
st.caption("Flip rate: share of the subgroup's swapped comments whose prediction changes. Mean Δmargin: "
           "counterfactual − original (positive: the swapped comment looks more hostile to the model).")
common.table(table, f"{run_id}-counterfactual-{split}", present=present)
flipped = examples[examples.flipped] if len(examples) else examples
if len(flipped) and not present:
    with st.expander(f"The {len(flipped)} comments whose prediction flipped"):
        st.dataframe(flipped[["subgroup", "label", "margin", "counterfactual margin", "text", "counterfactual"]],
                     hide_index=True, width="stretch")
