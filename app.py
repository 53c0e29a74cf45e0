"""taskfair dashboard: `streamlit run app.py` (binds to 127.0.0.1 through `make app`)."""
from __future__ import annotations

import streamlit as st

from ui.loaders import artifact_root, list_runs, manifest_mtime, run_overview

st.set_page_config(page_title="taskfair", page_icon="⚖️", layout="wide")
st.title("taskfair — fairness of task arithmetic")

root = str(artifact_root())
runs = list_runs(root)
if not runs:
    st.info(f"No precomputed runs under `{root}/` yet. Run `make precompute` (the embedded default: "
            "MiniLM on RedditBias, about 10 minutes on 2 CPU cores), then reload this page.")
    st.stop()

run_id = st.selectbox("Run", runs, index=runs.index("quick") if "quick" in runs else 0)
try:
    ov = run_overview(root, run_id, manifest_mtime(root, run_id))
except Exception as exc:  # a damaged or unfinished run: say what is wrong, keep the app alive
    st.error(str(exc))
    st.stop()

cfg, summary = ov["config"], ov["summary"]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Model", cfg["model"])
c2.metric("Dataset", cfg["dataset"]["name"])
c3.metric("Seeds", len(cfg["seeds"]))
c4.metric("Worst subgroup under FFT", summary["worst_subgroup_fft"])
st.subheader("Headline (test split, mean over seeds)")
st.dataframe(ov["headline"], hide_index=True)
st.caption(f"λ chosen on validation accuracy: {summary['chosen_lambda']} · majority-class test "
           f"accuracy {summary['majority_baseline_test']:.3f}")
st.subheader("Subgroup sizes")
st.dataframe(ov["sizes"], hide_index=True)
