"""Export: write the chosen merged model as a standard Hugging Face folder with a model card."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from taskfair.publishing.export import (ExportError, auto_model_class, default_export_name, export_configuration,
                                        safe_export_dir, zip_export)
from taskfair.steering.configurations import Variant, VariantSpecError, config_forms, lam_range, parse_variant
from ui import common, loaders, state

present, root, run_id, mtime, res, split, groups = common.page("Export", split=False)

st.title("Export the merged model")
st.caption(f"Any configuration of this run: {config_forms()} — from the Frontier (*Export this point*), "
           "the Remix page, or typed here.")
lams, problem = common.parse_lams(st.query_params.get("lam"), groups, *lam_range(res))
if problem:
    st.warning(f"Ignoring the λ in the link: {common.plain(problem)}.")
if lams is None:
    lams = list(state.remix_lams(run_id) or
                [float(np.mean(list(res.summary["chosen_lambda"].values())))] * len(groups))
remix = Variant("remix", lams=tuple(float(v) for v in lams)).spec
pushed = state.take_export_point()  # "Export this point" on the Frontier
linked = state.link_value("config")  # a new link, not our own echo
if pushed is not None:
    st.session_state["export_spec"] = pushed
elif linked is not None:
    st.session_state["export_spec"] = linked
elif "export_spec" not in st.session_state:
    st.session_state["export_spec"] = remix
spec = st.text_input("Configuration", key="export_spec",
                     help=f"Default: the Remix page's coefficients ({remix}).")
try:
    config = parse_variant(spec.strip(), groups)
except VariantSpecError as exc:
    st.error(f"Not a configuration of this run: {common.plain(exc)}")
    st.stop()
state.write_link("config", config.spec)
if config.family == "remix":
    st.dataframe(pd.DataFrame({"subgroup": groups, "λ": config.lams}), hide_index=True)
seed = st.selectbox("Seed (θ0 and vectors of this seed)", list(res.seeds))
out_root = loaders.export_root()
if st.session_state.get("export_name_for") != (config.spec, seed):  # a new choice: a fresh default name
    st.session_state["export_name"] = default_export_name(run_id, seed, config)
    st.session_state["export_name_for"] = (config.spec, seed)
name = st.text_input("Export name", key="export_name",
                     help=f"A folder under {out_root}/; existing folders are never overwritten.")

if st.button("Export", type="primary", key="export_go"):
    try:
        target = safe_export_dir(out_root, name)
    except ExportError as exc:
        st.error(common.plain(exc, 600))
        st.stop()
    bar = st.progress(0.0, text="Starting…")
    try:
        done = export_configuration(res, config, target, seed=seed, base=loaders.theta0(root, run_id, seed),
                                    progress=lambda f, text: bar.progress(f, text=text))
    except ExportError as exc:
        bar.empty()
        st.error(common.plain(exc, 600))
        st.stop()
    st.session_state["last_export"] = str(done.path)
    auto = auto_model_class(loaders.theta0(root, run_id, seed)[1]).__name__
    st.success(f"Exported to `{done.path}` and verified: it reloads with "
               f"{auto} and predicts what the in-app merge predicts. "
               f"`provenance.json` records what it is made of (merged weights sha256 "
               f"`{done.record['merged_weights_sha256'][:16]}…`); rebuild and check it with "
               f"`python -m taskfair recreate {done.path}`.")
    common.table(done.metrics, f"{name}-metrics", present=present)

last = st.session_state.get("last_export")
if last:
    from pathlib import Path
    st.download_button("Download as .zip", zip_export(last), f"{Path(last).name}.zip", "application/zip")
