"""Export: write the chosen merged model as a standard Hugging Face folder with a model card."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from taskfair.exact import exact_margins, merged_model
from taskfair.export import ExportError, auto_model_class, export_model, safe_export_dir, zip_export
from taskfair.fairness import group_rates
from taskfair.provenance import build_record
from taskfair.reporting import rates_table
from taskfair.store import ArtifactStore
from ui import common, loaders

present, root, run_id, mtime, res, split, groups = common.page("Export", split=False)

st.title("Export the merged model")
lams, problem = common.parse_lams(st.query_params.get("lam"), groups)
if problem:
    st.warning(f"Ignoring the λ in the link: {problem}.")
if lams is None:
    lams = list(st.session_state.get("remix_lams") or
                [float(np.mean(list(res.summary["chosen_lambda"].values())))] * len(groups))
st.write("Coefficients (set them on the Remix page):")
st.dataframe(pd.DataFrame({"subgroup": groups, "λ": lams}), hide_index=True)
seed = st.selectbox("Seed (θ0 and vectors of this seed)", list(res.seeds))
out_root = loaders.export_root()
name = st.text_input("Export name", value=f"{run_id}-seed{seed}-remix", key="export_name",
                     help=f"A folder under {out_root}/; existing folders are never overwritten.")

if st.button("Export", type="primary", key="export_go"):
    try:
        target = safe_export_dir(out_root, name)
    except ExportError as exc:
        st.error(str(exc))
        st.stop()
    run = ArtifactStore(root).open(run_id, verify=False)
    bar = st.progress(0.1, text="Merging…")
    base = loaders.theta0(root, run_id, seed)
    model = merged_model(run, seed, lams, base)
    bar.progress(0.3, text="Measuring on the validation and test splits…")
    both = exact_margins(run, seed, lams, base, splits=("val", "test"))
    margins = both["test"]
    sr = res.seeds[seed]
    metrics = rates_table(group_rates(margins > 0, sr.labels["test"], sr.masks["test"]), groups)
    bar.progress(0.6, text="Recording provenance (bootstrap intervals)…")
    record = build_record(run, seed, dict(zip(groups, lams)), model, margins=both)
    bar.progress(0.7, text="Writing and verifying by reloading…")
    texts = res.data.text.to_numpy()[sr.index["test"][:32]].tolist()
    cfg = res.config
    provenance = {"run": run_id, "seed": seed, "coefficients": dict(zip(groups, lams)),
                  "base_model": cfg["model"], "base_sha256": run.load_json(f"seed{seed}/base.json")["sha256"],
                  "dataset": cfg["dataset"]["name"], "merge_method": "task_arithmetic"}
    try:
        path = export_model(model, base[1], target, provenance=provenance, metrics=metrics,
                            check_texts=texts, max_length=cfg["train"]["max_length"], record=record)
    except ExportError as exc:
        bar.empty()
        st.error(str(exc))
        st.stop()
    bar.progress(1.0, text="Done")
    st.session_state["last_export"] = str(path)
    auto = auto_model_class(base[1]).__name__
    st.success(f"Exported to `{path}` and verified: it reloads with "
               f"{auto} and predicts what the in-app merge predicts. "
               f"`provenance.json` records what it is made of (merged weights sha256 "
               f"`{record['merged_weights_sha256'][:16]}…`); rebuild and check it with "
               f"`python -m taskfair recreate {path}`.")
    common.table(metrics, f"{name}-metrics", present=present)

last = st.session_state.get("last_export")
if last:
    from pathlib import Path
    st.download_button("Download as .zip", zip_export(last), f"{Path(last).name}.zip", "application/zip")
