"""Report: one self-contained HTML file with the headline table (validation and test), the
per-subgroup charts with intervals, the coefficients, provenance and caveats."""
from __future__ import annotations

import streamlit as st

from ui import common, loaders, state

present, root, run_id, mtime, res, split, groups = common.page("Report", split=False)
st.title("One-file fairness report")
st.caption("For readers who never open the tool: it opens offline in any browser. The same file "
           f"comes from `python -m taskfair report --run {run_id} --config …`.")
options = loaders.stored_configs(root, run_id, mtime)
remix = state.remix_config(run_id)   # the Remix page's coefficients, first
if remix:
    options = [remix] + options
chosen = next(iter(res.summary["chosen_lambda"].values()))
default = [c for c in ("fft", "lora", f"uniform:{chosen:g}") if c in options] + (options[:1] if remix else [])
configs = st.multiselect("Configurations", options, default=default, key="report_configs")
n_boot = st.select_slider("Bootstrap resamples", [200, 500, 1000, 2000], value=1000, key="report_boot")
if not configs:
    st.info("Pick at least one configuration.")
    st.stop()
if st.button("Build the report", type="primary", key="report_go"):
    st.session_state["report_html"] = (tuple(configs), n_boot,
                                       loaders.html_report(root, run_id, mtime, tuple(configs), n_boot))
built = st.session_state.get("report_html")
if built and built[0] == tuple(configs) and built[1] == n_boot:
    html = built[2]
    st.success(f"Report ready ({len(html) / 1e6:.1f} MB, plotting library included).")
    st.download_button("Download report.html", html.encode(), f"{run_id}-report.html", "text/html",
                       key="report_dl")
