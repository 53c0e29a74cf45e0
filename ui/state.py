"""What the pages hand each other, typed, and the one way a page keeps a view in its URL.

A page never reads or writes these session keys itself: the Remix coefficients (per run, so
another run's λ never reach a page of this one), "load into Remix", the remixes added to the
Frontier, the point chosen for export, and the echo rule of a URL parameter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from taskfair.steering.configurations import Variant

__all__ = ["remix_lams", "remix_config", "set_remix_lams", "load_into_remix", "AddedRemix", "added_remixes",
           "add_remix", "export_point", "take_export_point", "link_value", "write_link", "slider_key"]

_REMIX = "remix_lams"          # {run_id: λ per subgroup}, the Remix page's last position
_ADDED = "remixes"             # the remixes added to the Frontier
_EXPORT = "export_config"      # a configuration sent to the Export page
_KEEP = 64                     # URL values a page remembers having written (echoes lag a few moves)


def slider_key(group: str) -> str:
    """The session key of subgroup ``group``'s λ slider on the Remix page."""
    return f"lam_{group}"


# ---- the Remix coefficients --------------------------------------------------------------------
def remix_lams(run_id: str) -> tuple[float, ...] | None:
    """The λ the Remix page last showed for ``run_id`` (None: not opened for this run)."""
    return st.session_state.get(_REMIX, {}).get(run_id)


def remix_config(run_id: str) -> str | None:
    """:func:`remix_lams` as a configuration string (``remix:0.2,…``), or None."""
    lams = remix_lams(run_id)
    return None if lams is None else Variant("remix", lams=tuple(lams)).spec


def set_remix_lams(run_id: str, lams: Sequence[float]) -> None:
    st.session_state.setdefault(_REMIX, {})[run_id] = tuple(float(v) for v in lams)


def load_into_remix(run_id: str, groups: Sequence[str], lams: Sequence[float], label: str) -> None:
    """Set the Remix page's sliders to ``lams`` and open it (or say where it is, when this page
    was started on its own)."""
    for g, v in zip(groups, lams):
        st.session_state[slider_key(g)] = float(v)
    st.session_state["remix_run"] = run_id
    set_remix_lams(run_id, lams)
    write_link("lam", ",".join(f"{float(v):g}" for v in lams))
    try:
        st.switch_page("pages/2_remix.py")
    except StreamlitPageNotFoundError:
        st.success(f"Loaded {label!r}: open the Remix page.")


# ---- remixes added to the Frontier -------------------------------------------------------------
@dataclass(frozen=True)
class AddedRemix:
    run_id: str
    label: str
    lams: tuple[float, ...]
    metrics: dict        # the headline figures (estimate) at the time it was added


def added_remixes(run_id: str) -> list[AddedRemix]:
    return [r for r in st.session_state.get(_ADDED, []) if r.run_id == run_id]


def add_remix(run_id: str, label: str, lams: Sequence[float], metrics: dict) -> None:
    st.session_state.setdefault(_ADDED, []).append(AddedRemix(run_id, label, tuple(lams), dict(metrics)))


# ---- the point sent to the Export page ---------------------------------------------------------
def export_point(spec: str, label: str) -> None:
    """Send configuration ``spec`` to the Export page and open it."""
    st.session_state[_EXPORT] = spec
    try:
        st.switch_page("pages/5_export.py")
    except StreamlitPageNotFoundError:
        st.success(f"Chose {label!r} ({spec}): open the Export page.")


def take_export_point() -> str | None:
    """The configuration another page sent here (once: it is then forgotten)."""
    return st.session_state.pop(_EXPORT, None)


# ---- a view kept in the URL --------------------------------------------------------------------
def link_value(param: str) -> str | None:
    """``?param=`` when it is a link to follow: present, not a value this session wrote itself,
    and not followed before. The browser sends its address with every rerun and learns a rerun's new address only
    from its reply, so a quick second move carries the first's value: an echo, not a link."""
    raw = st.query_params.get(param)
    written = st.session_state.setdefault(f"_url_written_{param}", [])
    if raw is None or raw in written:
        return None
    written[:] = written[-(_KEEP - 1):] + [raw]   # a link is followed once
    return raw


def write_link(param: str, value: str) -> None:
    """Put ``value`` in ``?param=`` and remember it as this session's own."""
    st.query_params[param] = value
    written = st.session_state.setdefault(f"_url_written_{param}", [])
    if value not in written:
        written[:] = written[-(_KEEP - 1):] + [value]
