"""Cached loaders: every computation a page needs is a library call behind one of these.

``st.cache_data`` returns copies, so pages may modify what they get; nothing cached with
``st.cache_resource`` is ever mutated.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from taskfair.store import ArtifactStore, StoreError


def artifact_root() -> Path:
    return Path(os.environ.get("TASKFAIR_ARTIFACTS", "artifacts"))


@st.cache_data(show_spinner=False, ttl=5)
def list_runs(root: str) -> list[str]:
    return ArtifactStore(root).runs()


@st.cache_data(show_spinner="Verifying and loading the run…")
def run_overview(root: str, run_id: str, manifest_mtime: float) -> dict:
    """Config, summary, headline and subgroup sizes of a finished run (verified)."""
    run = ArtifactStore(root).open(run_id)
    if not run.is_done("metrics"):
        raise StoreError(f"run {run_id!r} has not finished; rerun `python -m precompute` to resume it")
    data = run.load_table("data/dataset.parquet")
    groups = [c for c in data.columns if c not in ("text", "label")]
    sizes = pd.DataFrame({"group": groups,
                          "rows": [int(data[g].sum()) for g in groups],
                          "positives": [int((data[g] & (data.label == 1)).sum()) for g in groups]})
    return {"config": run.config, "summary": run.load_json("summary.json"),
            "headline": run.load_table("headline.parquet"), "sizes": sizes,
            "versions": run.manifest.get("versions", {})}


@st.cache_data(show_spinner="Loading metrics…")
def run_metrics(root: str, run_id: str, manifest_mtime: float) -> pd.DataFrame:
    return ArtifactStore(root).open(run_id, verify=False).load_table("metrics.parquet")


def manifest_mtime(root: str | Path, run_id: str) -> float:
    """Cache key part: a rerun of the precompute changes the manifest and invalidates caches."""
    p = Path(root) / run_id / "manifest.json"
    return p.stat().st_mtime if p.exists() else 0.0
