"""taskfair dashboard. Start with `make app` (binds to 127.0.0.1:8501).

The pages live in pages/; this entry point names and orders them and gives each a stable URL
(/, /sweep, /remix, /heatmaps, /frontier, /export, /diff, /report, /search, /vectors, /tour, /counterfactual) so a link with its query parameters
reproduces a view. The file names are lowercase on purpose: on the first request of a link such as
/remix, Streamlit looks the path up among pages/ named by their files before this script has run
its navigation; a file named 2_Remix.py answers to /Remix only, and the visitor got a modal "Page
not found" over the page (it also swallowed clicks)."""
from __future__ import annotations

import streamlit as st

PAGES = [
    st.Page("pages/0_overview.py", title="Overview", icon=":material/bar_chart:", default=True),
    st.Page("pages/1_sweep.py", title="λ sweep", icon=":material/show_chart:", url_path="sweep"),
    st.Page("pages/2_remix.py", title="Remix", icon=":material/tune:", url_path="remix"),
    st.Page("pages/3_heatmaps.py", title="Heatmaps", icon=":material/grid_on:", url_path="heatmaps"),
    st.Page("pages/4_frontier.py", title="Frontier", icon=":material/scatter_plot:", url_path="frontier"),
    st.Page("pages/5_export.py", title="Export", icon=":material/download:", url_path="export"),
    st.Page("pages/6_diff.py", title="Diff", icon=":material/compare_arrows:", url_path="diff"),
    st.Page("pages/7_report.py", title="Report", icon=":material/description:", url_path="report"),
    st.Page("pages/8_search.py", title="Search", icon=":material/travel_explore:", url_path="search"),
    st.Page("pages/9_vectors.py", title="Vectors", icon=":material/hub:", url_path="vectors"),
    st.Page("pages/10_tour.py", title="Guided tour", icon=":material/slideshow:", url_path="tour"),
    st.Page("pages/11_counterfactual.py", title="Counterfactual", icon=":material/swap_horiz:",
            url_path="counterfactual"),
]
st.navigation(PAGES).run()
