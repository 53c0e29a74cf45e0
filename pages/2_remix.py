"""Remix: one λ per subgroup, θ0 + Σ_g λ_g τ_g, estimated instantly from stored predictions;
exact evaluation on demand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from taskfair import TRIVIAL
from taskfair.metrics import HEADLINE_METRICS
from taskfair.steering.remix import estimate_vs_exact
from taskfair.steering.configurations import lam_range
from ui import charts, common, loaders, panels, state

present, root, run_id, mtime, res, split, groups = common.page("Remix")
keys = [state.slider_key(g) for g in groups]
LO, HI = lam_range(res)  # negative λ subtract a subgroup's vector (task negation)

# ---- state: URL first, then this session, then the λ chosen on validation ------------------
from_url, problem = common.parse_lams(state.link_value("lam"), groups, LO, HI)   # a link, not our own echo
if problem:
    st.warning(f"Ignoring the λ in the link: {common.plain(problem)}.")
if st.session_state.get("remix_run") != run_id:
    start = float(np.mean(list(res.summary["chosen_lambda"].values())))
    for k in keys:
        st.session_state[k] = start
    st.session_state["lam_all"] = start
    st.session_state["remix_run"] = run_id
if from_url is not None:
    for k, v in zip(keys, from_url):
        st.session_state[k] = v


def _move_all() -> None:
    for k in keys:
        st.session_state[k] = st.session_state["lam_all"]


st.title("Remix the subgroup vectors")
st.caption("θ = θ0 + Σ_g λ_g τ_g — drag one λ per subgroup; the 'all' slider moves every one. A negative λ "
           "subtracts that subgroup's vector (task negation); outside the stored points the estimate is marked "
           "as an extrapolation.")
for k in keys + ["lam_all"]:  # a value from a link or an older session, kept inside the sliders' range
    if k in st.session_state:
        st.session_state[k] = min(max(float(st.session_state[k]), LO), HI)
st.slider("all subgroups", LO, HI, step=0.05, key="lam_all", on_change=_move_all)
cols = st.columns(len(groups))
for col, g, k in zip(cols, groups, keys):
    col.slider(g, LO, HI, step=0.05, key=k)
lams = tuple(round(float(st.session_state[k]), 4) for k in keys)
state.write_link("lam", ",".join(f"{v:g}" for v in lams))
state.set_remix_lams(run_id, lams)

with_ci = st.toggle("95% intervals over the examples", value=False, key="remix_ci",
                    help="Bootstrap intervals (100 resamples) in the table and on hover; adds ~30 ms per move")
view = loaders.remix_view(root, run_id, mtime, split, lams, n_boot=100 if with_ci else 0)
est, overall, errors, trivial = view.table, view.headline[split], view.error, view.degenerate
fft = loaders.stored_headline(root, run_id, mtime, "fft", split)
if view.extrapolation:
    st.warning(f"**Extrapolated estimate**: {view.extrapolation}. The estimate interpolates between stored points; "
               "press *Evaluate exactly* below before trusting these numbers.")
if trivial:
    st.error(f"**This remix is a constant predictor** ({trivial}): its DPD and EOD are trivially low and say "
             "nothing about fairness.")
c = st.columns(4)
for col, metric, better in zip(c, HEADLINE_METRICS,
                               ["normal", "normal", "inverse", "inverse"]):
    if trivial and metric in ("worst_dpd", "worst_eod"):
        col.metric(charts.NAMES[metric], "trivial", help=TRIVIAL)
        continue
    err = errors.get(metric)
    shown = f"{overall[metric]:.3f}" + ("" if err is None else " (stored)" if err == 0 else f" ±{err:.3f}")
    col.metric(charts.NAMES[metric], shown, delta=f"{overall[metric] - fft[metric]:+.3f} vs FFT", delta_color=better,
               help=None if err is None else "± the expected error of the estimate: its mean absolute error at the "
               "stored points that mix subgroups, each estimated with that point left out. (stored): this "
               "point was evaluated by the precompute, so the figure is exact.")

thr = st.radio("Per-group thresholds on top", ["none", "dp", "eo"], horizontal=True, key="remix_thr",
               format_func=lambda c: {"none": "none", "dp": "demographic parity",
                                      "eo": "equalized odds"}[c],
               help="fairlearn's ThresholdOptimizer fitted on this remix's validation estimate, "
                    "with the subgroup as the sensitive feature: remix + thresholds.")
if thr and thr != "none":
    try:
        t = loaders.remix_thresholds(root, run_id, mtime, split, lams, thr)
    except ValueError as exc:
        st.warning(f"Per-group thresholds cannot be fitted here: {common.plain(exc)}.")
        t = None
    after = t[t.group == "(all)"].set_index("metric")["mean"] if t is not None else None
    tc = st.columns(4) if t is not None else []
    for col, metric, better in zip(tc, HEADLINE_METRICS,
                                   ["normal", "normal", "inverse", "inverse"]):
        col.metric(f"{charts.NAMES[metric]} + thresholds", f"{after[metric]:.3f}",
                   delta=f"{after[metric] - overall[metric]:+.3f} vs the remix alone", delta_color=better)
    if t is not None:
        st.caption("Remix + thresholds (estimate). **Thresholds need each example's subgroup at prediction time; "
                   "the merged model alone does not.**")

# choose on validation, report on test: both, side by side, whatever split the sidebar shows
side = pd.DataFrame({f"{sp} (estimate)": [view.headline[sp][m] for m in HEADLINE_METRICS] for sp in ("val", "test")},
                    index=[charts.NAMES[m] for m in HEADLINE_METRICS])
st.caption("Validation (where coefficients should be chosen) beside test (what to report):")
st.dataframe(side, width="content", column_config={c: st.column_config.NumberColumn(format="%.3f") for c in side.columns})

st.info("These numbers are an **estimate** from stored predictions (each subgroup's axis, corrected "
        "by every stored remix-like point), not a run of the merged model. Use *Evaluate exactly* to check them.",
        icon="ℹ️")
st.plotly_chart(charts.remix_heatmap(est, groups), width="stretch")
common.warn_undefined(view.undefined)
common.table(est, f"{run_id}-remix-estimate-{split}", present=present)

exact_cache = st.session_state.setdefault("exact", {})
key = (run_id, split, lams)
b1, b2 = st.columns(2)
if b1.button("Evaluate exactly", type="primary", key="remix_exact",
             help="Merge the vectors and run the model on every seed, in a worker process: the sliders "
                  "stay responsive meanwhile"):
    st.session_state["exact_job"] = (key, loaders.exact_pool().submit(root, run_id, mtime, split, lams))


@st.fragment(run_every=1.0)
def follow_exact() -> None:
    """The exact evaluation's progress; when it is done, the page reruns to show it."""
    waiting = st.session_state.get("exact_job")
    if not waiting:
        return
    shown_for, job = waiting
    status = loaders.exact_pool().status(job)
    if status.state == "done":
        exact_cache[shown_for] = status.result
        del st.session_state["exact_job"]
        st.rerun()
    elif status.state in ("failed", "none"):
        del st.session_state["exact_job"]
        st.error(f"The exact evaluation failed: {common.plain(status.text, 600)}")
    else:
        st.progress(min(max(status.fraction, 0.0), 1.0), text=status.text or "Merging and running the model…")


if st.session_state.get("exact_job"):  # polled only while a job is waiting (no idle reruns)
    follow_exact()
if key in exact_cache:
    exact = exact_cache[key]
    cmp = estimate_vs_exact(est, exact)
    worst = cmp.iloc[0]
    st.success(f"Exact evaluation done. Largest gap between estimate and exact: "
               f"{worst.abs_error:.3f} ({worst.metric}, {worst.group}).")
    common.table(cmp, f"{run_id}-remix-exact-{split}", present=present)
if b2.button("Add to frontier", key="remix_add"):
    state.add_remix(run_id, "remix " + ", ".join(f"{g}={v:g}" for g, v in zip(groups, lams)), lams,
                    overall.to_dict())
    st.toast("Added to the Frontier page.")

panels.layerwise(root, run_id, mtime, groups, lams, (LO, HI))
