"""Search: per-subgroup λ that maximise validation accuracy under bounds on worst-case DPD/EOD,
found on the instant estimate and confirmed by exact evaluation on validation and test."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from ui import charts, common, loaders, state

present, root, run_id, mtime, res, split, groups = common.page("Search", split=False)
st.title("Automatic coefficient search")
st.caption("One λ per subgroup, chosen on the validation split only; the exact test figures beside "
           f"them show whether the choice overfits. Also: `python -m taskfair search --run {run_id}`.")
c1, c2 = st.columns(2)
use_dpd = c1.checkbox("Bound worst-case DPD", value=True, key="search_use_dpd")
max_dpd = c1.number_input("max worst-case DPD", 0.0, 1.0, 0.15, 0.01, key="search_dpd", disabled=not use_dpd)
use_eod = c2.checkbox("Bound worst-case EOD", value=False, key="search_use_eod")
max_eod = c2.number_input("max worst-case EOD", 0.0, 1.0, 0.2, 0.01, key="search_eod", disabled=not use_eod)
bounds = (float(max_dpd) if use_dpd else None, float(max_eod) if use_eod else None)
if not st.button("Search", type="primary", key="search_go") and st.session_state.get("search_bounds") != bounds:
    st.info("Set the bounds (or none, for the whole Pareto front) and press *Search*.")
    st.stop()
st.session_state["search_bounds"] = bounds
result = loaders.search(root, run_id, mtime, *bounds)
cands = result.candidates
st.write(f"{len(cands)} candidates on the validation estimate, {int(cands.feasible.sum())} within the bounds.")
fig = px.scatter(cands, x="val worst_dpd (estimate)", y="val accuracy (estimate)",
                 color=cands.feasible.map({True: "within bounds", False: "outside"}),
                 hover_data=[c for c in cands.columns if c.startswith("λ ")], template="plotly_white",
                 height=420, opacity=0.5)
best = result.best
fig.add_scatter(x=best["val worst_dpd (estimate)"], y=best["val accuracy (estimate)"], mode="markers",
                marker=dict(symbol="star", size=13, color="black"), name="chosen")
st.plotly_chart(fig, width="stretch")
if best.empty:
    st.warning("No candidate meets the bounds; loosen them.")
    st.stop()
common.table(best.head(20), f"{run_id}-search", present=present)

with st.expander("Check the estimated front exactly", expanded=False):
    st.caption("Evaluate exactly (validation) points spread along the estimated Pareto front, and compare the two "
               "fronts: how far the instant front can be trusted.")
    nf = st.slider("Points to evaluate", 2, 8, 5, key="front_n")
    if st.button("Check the front", key="front_go"):
        fbar = st.progress(0.0, text="Merging and running the model…")
        st.session_state["front_checked"] = ((run_id, bounds), nf, loaders.check_front(
            root, run_id, mtime, *bounds, nf, _progress=lambda f: fbar.progress(f, text="Merging and running the model…")))
        fbar.empty()
    fc = st.session_state.get("front_checked")
    if fc and fc[0] == (run_id, bounds) and fc[1] == nf:
        fc = fc[2]
        m = st.columns(3)
        m[0].metric("Hypervolume, estimated front", f"{fc.hv_estimate:.4f}")
        m[1].metric("Hypervolume, exact", f"{fc.hv_exact:.4f}", delta=f"{-fc.hv_gap:+.1%}")
        m[2].metric("Mean gap (accuracy / unfairness)", f"{fc.mean_gap['accuracy']:.3f} / {fc.mean_gap['unfairness']:.3f}")
        st.plotly_chart(charts.front_check(fc.points), width="stretch")
        st.caption(f"Hypervolume: the area each front dominates up to the corner (accuracy {fc.reference[0]:.3f}, "
                   f"unfairness {fc.reference[1]:.3f}); higher is better. The exact hypervolume below the estimated one "
                   "is how much the instant front promises that the models do not deliver.")
        common.table(fc.points, f"{run_id}-front-check", present=False)

n = st.slider("Confirm the first n by exact evaluation", 1, min(5, len(best)), min(3, len(best)), key="search_n")
if st.button("Confirm exactly", key="search_confirm"):
    bar = st.progress(0.0, text="Merging and running the model…")
    st.session_state["search_confirmed"] = (bounds, n, loaders.confirm_search(
        root, run_id, mtime, *bounds, n, _progress=lambda f: bar.progress(f, text="Merging and running the model…")))
    bar.empty()
done = st.session_state.get("search_confirmed")
if done and done[0] == bounds and done[1] == n:
    table = done[2]
    st.success("Validation (where λ was chosen) beside test (what to report), exact:")
    st.plotly_chart(charts.confirmed(table), width="stretch")
    st.caption(charts.ERRORS.split(";")[0] + ". A test bar well below its validation bar is overfitting to validation.")
    share = [c for c in table.columns if "front share" in c]
    if share:
        first = table.iloc[0]
        st.markdown("**The best candidate on test, against every stored point under the same resamples:** "
                    + "; ".join(f"on the front in {first[c]:.0%} of resamples ({c.split('(')[1].rstrip(')')})" for c in share)
                    + "; minus FFT: " + ", ".join(
                        f"{charts.NAMES.get(m, m)} {first[f'test {m} − FFT']:+.3f} [{first[f'test {m} − FFT low']:+.3f}, "
                        f"{first[f'test {m} − FFT high']:+.3f}]" for m in ("accuracy", "worst_dpd", "worst_eod")
                        if f"test {m} − FFT" in table.columns) + " (paired).")
    common.table(table, f"{run_id}-search-confirmed", present=False)
    lam_cols = [f"λ {g}" for g in groups]
    if st.button("Load the best into Remix", key="search_load"):
        state.load_into_remix(run_id, groups, table.iloc[0][lam_cols].to_numpy(dtype=float).tolist(),
                              "the best candidate")
