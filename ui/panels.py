"""Panels of widgets that a page renders in one call (kept out of the page scripts, which
Streamlit compiles on every run)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from taskfair.steering.layerwise import layerwise_spec
from ui import charts, common, loaders


def layerwise(root: str, run_id: str, mtime: float, groups: list[str], lams: tuple[float, ...],
              lam_range: tuple[float, float]) -> None:
    """Remix's advanced panel: per-subgroup × per-block λ, exact evaluation, export, search."""
    LO, HI = lam_range
    # a switch, not an expander: an expander's content runs (and is sent) on every slider move
    if not st.toggle("Layer-wise λ (advanced): one λ per subgroup and per block of layers", key="lw_show"):
        return
    with st.container(border=True):
        blocks = loaders.layer_blocks(root, run_id, mtime)
        st.caption("As layer-wise merging methods do for accuracy: each block of layers (embeddings, lower layers, "
                   "upper layers, head) takes its own λ. There is no instant estimate here: every figure is an exact "
                   "evaluation. The grid starts from the sliders above.")
        key = "lw_grid_" + ",".join(f"{v:g}" for v in lams)
        # Streamlit drops a widget's state when it is not drawn (the switch turned off): the grid
        # of the sliders' current position is kept under a key of its own, and the editor starts
        # from it when drawn again
        start = st.session_state.get("lw_kept", {}).get(key)
        if start is None or list(start.index) != groups or list(start.columns) != list(blocks):
            start = pd.DataFrame([[v] * len(blocks) for v in lams], index=groups, columns=list(blocks))
        grid = st.data_editor(start, key=key, width="stretch",
                              column_config={b: st.column_config.NumberColumn(b, min_value=LO, max_value=HI, step=0.05)
                                             for b in blocks})
        st.session_state["lw_kept"] = {key: grid.copy()}
        values = grid.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            st.warning("Fill every cell of the grid with a number.")
            return
        lw_spec = layerwise_spec(values)
        st.code(lw_spec, language=None)
        l1, l2 = st.columns(2)
        if l1.button("Evaluate layer-wise exactly", key="lw_exact"):
            lw_bar = st.progress(0.0, text="Merging and running the model…")
            st.session_state["lw_done"] = ((run_id, lw_spec), loaders.layerwise_exact(
                root, run_id, mtime, lw_spec, _progress=lambda f, t: lw_bar.progress(min(max(f, 0.0), 1.0), text=t)))
            lw_bar.empty()
        if l2.button("Export this", key="lw_export"):
            st.session_state["export_config"] = lw_spec
            try:
                st.switch_page("pages/5_export.py")
            except StreamlitPageNotFoundError:
                st.success("Chosen: open the Export page.")
        lw_done = st.session_state.get("lw_done")
        if lw_done and lw_done[0] == (run_id, lw_spec):
            st.dataframe(lw_done[1].rename(index=charts.NAMES).style.format("{:.3f}"), width="content")
            st.caption("Exact, mean over seeds: validation (where λ are chosen) beside test (what to report).")
        st.markdown("**Search per-block λ on validation** (coordinate search from the sliders, exact evaluations)")
        s1, s2, s3 = st.columns(3)
        budget = s1.number_input("Budget (exact evaluations)", 2, 60, 12, key="lw_budget")
        lw_dpd = s2.number_input("max worst DPD (0: none)", 0.0, 1.0, 0.0, 0.01, key="lw_dpd")
        lw_eod = s3.number_input("max worst EOD (0: none)", 0.0, 1.0, 0.0, 0.01, key="lw_eod")
        remix_spec = "remix:" + ",".join(f"{v:g}" for v in lams)
        if st.button("Search", key="lw_search"):
            s_bar = st.progress(0.0, text="Searching…")
            st.session_state["lw_found"] = run_id, loaders.layerwise_search(
                root, run_id, mtime, remix_spec, int(budget), lw_dpd or None, lw_eod or None,
                _progress=lambda f, t: s_bar.progress(min(max(f, 0.0), 1.0), text=t))
            s_bar.empty()
        found = st.session_state.get("lw_found")
        found = found[1] if found is not None and found[0] == run_id else None
        if found is not None:
            st.success(f"Best on validation after {len(found.history)} exact evaluations: `{found.best}`")
            common.table(found.report, f"{run_id}-layerwise-search", present=False)
