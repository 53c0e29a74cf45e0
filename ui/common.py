"""What every page shares: page set-up, the run picker, state in the URL, presentation mode,
tables with a CSV download, and the no-artifacts screen."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple, Sequence

import pandas as pd
import streamlit as st

from taskfair.store.results import RunResults

from ui import loaders

ROOT = Path(__file__).resolve().parent.parent
PRESENT_CSS = """
<style>
header[data-testid="stHeader"], [data-testid="stToolbar"], footer, [data-testid="stSidebar"],
.tf-detail { display: none !important; }
.block-container { padding-top: 1.5rem; max-width: 1400px; }
h1 { font-size: 2.6rem !important; }
</style>
"""


# a finding's verdict as a coloured badge (Streamlit's own icon font: it renders the same in every
# browser, where emoji depend on the system's fonts)
VERDICT = {"holds": ":green-badge[:material/check_circle: holds]",
           "partly": ":orange-badge[:material/contrast: partly]",
           "does not hold": ":red-badge[:material/cancel: does not hold]",
           "inconclusive": ":blue-badge[:material/help: inconclusive]",
           "not measured": ":gray-badge[:material/remove: not measured]",
           "pending": ":gray-badge[:material/hourglass_top: pending]"}


_AUTOLINK = re.compile(r"(?i)(?:https?|ftp|mailto|xmpp):|\bwww\.|[^\s]@")
_MARKUP = set("\\`*_{}[]()<>#+-.!|~:$=&\"'")


def plain(text: object, limit: int = 300) -> str:
    """``text`` (from a link, a file, a run name, a typed configuration, an exception) as literal
    markdown: every punctuation mark that markdown, Streamlit's directives (``:red[…]``,
    ``:material/…:``), LaTeX or a link could read is escaped, newlines become spaces, and
    anything over ``limit`` characters is cut with its length said. Nothing in it can become a
    link, an image or a tag."""
    raw = " ".join(str(text).split())
    if len(raw) > limit:
        raw = raw[:limit] + f" … ({len(raw):,} characters)"
    # GitHub-flavoured markdown links bare addresses (https://…, www.…, a@b.c) even when their
    # punctuation is escaped: a word joiner (U+2060, invisible) keeps them from being recognised
    raw = _AUTOLINK.sub(lambda m: m.group(0)[:-1] + "\u2060" + m.group(0)[-1], raw)
    return "".join("\\" + c if c in _MARKUP else c for c in raw)


def verdict_badge(verdict: str, *, finished: bool = True) -> str:
    """Markdown for a finding's verdict; ``not measured`` reads *pending* while the run computes."""
    if verdict == "not measured" and not finished:
        verdict = "pending"
    if verdict.startswith("not measured:"):   # e.g. a compared model is a constant predictor
        return f":gray-badge[:material/remove: {verdict}]"
    return VERDICT.get(verdict, f":gray-badge[{verdict}]")


def setup(title: str, icon: str = "⚖️") -> None:
    _through_app_navigation()
    st.set_page_config(page_title=f"{title} · taskfair", page_icon=icon, layout="wide")


def _through_app_navigation() -> None:
    """A served app's first request by a link to a page (``/remix?…``) runs that page through
    Streamlit's older pages/-folder navigation, before app.py has declared its own: the sidebar
    then lists file names and an "app" entry, for every session, until app.py first runs.
    Declare app.py's navigation the one in use and run again (once per server)."""
    global _NAVIGATION_SWITCHED
    from streamlit.runtime.pages_manager import PagesManager
    # at most once per process (AppTest resets the flag before every run; a rerun drops a click)
    if not _NAVIGATION_SWITCHED and getattr(PagesManager, "uses_pages_directory", None):
        _NAVIGATION_SWITCHED = True
        PagesManager.uses_pages_directory = False  # streamlit 1.67 (pinned): its pages/-folder switch
        st.rerun()


_NAVIGATION_SWITCHED = False


class Page(NamedTuple):
    """What every page starts from (``common.page``)."""
    present: bool          # presentation mode
    root: str              # the artifact root
    run_id: str
    mtime: float           # the run's manifest time: the key every cached loader takes
    res: RunResults        # the run, loaded and verified (results so far while it computes)
    split: str | None      # the split picked in the sidebar (None on pages without one)
    groups: list[str]


def page(title: str, *, split: bool = True, needs: tuple[str, ...] | None = None) -> Page:
    """Every page's preamble: set-up, presentation mode, the run (loaded and verified), the split.

    A run still computing shows its progress; the page then renders when the jobs it ``needs``
    (parts of job names, such as ``eval/uniform``) are in the results so far, and otherwise says
    what it waits for. ``needs=None``: the page waits for the whole run."""
    setup(title)
    present = presenting()
    root, run_id, mtime = pick_run()
    res = load(root, run_id, mtime)
    if not res.finished:
        waiting_for(res, root, run_id, title, needs)
    chosen = split_picker() if split else None
    return Page(present, root, run_id, mtime, res, chosen, list(res.groups))


POLL_S = 10


def follow(root: str, run_id: str, version: str | None) -> None:
    """The run's progress bar and time left, refreshed every :data:`POLL_S` seconds; the page
    reruns when new results land (``version`` is that of the results it shows)."""
    @st.fragment(run_every=POLL_S)
    def bar() -> None:
        prog = loaders.progress(root, run_id)
        if prog is None:
            return
        st.progress(prog.fraction, text=f"Precompute: {prog.describe()}")
        if loaders.results_version(root, run_id) != version:
            st.rerun()
    bar()


def waiting_for(res, root: str, run_id: str, title: str, needs: tuple[str, ...] | None) -> None:
    """The banner of a run still computing; stops the page when what it needs is not there yet."""
    done = set(res.summary.get("jobs_done", ()))
    plan = loaders.planned_jobs(root, run_id)
    missing = [j for j in plan if j not in done and (needs is None or any(n in j for n in needs))]
    st.info("**This run is still computing.** The pages show the results stored so far and fill in "
            "as jobs finish; the figures can still change.", icon=":material/hourglass_top:")
    follow(root, run_id, loaders.results_version(root, run_id))
    if needs is None or missing:
        what = "the whole run" if needs is None else f"{len(missing)} more job(s): " + ", ".join(
            m.split("/", 1)[-1] for m in missing[:6]) + (" …" if len(missing) > 6 else "")
        st.title(title)
        st.markdown(f"This page appears when the precompute has finished **{what}**. Meanwhile the "
                    "[Overview](./) shows what is evaluated so far.")
        st.stop()


def presenting() -> bool:
    """Presentation mode: no sidebar or chrome, charts only. ``?present=1`` or the sidebar toggle."""
    qp = st.query_params.get("present")
    if qp is not None:
        st.session_state["present"] = qp in ("1", "true", "yes")
    on = st.sidebar.toggle("Presentation mode", key="present",
                           help="Hide tables, sidebar and chrome for a demo (?present=1); the Guided tour "
                                "page walks through the findings one at a time. Remove ?present=1 from "
                                "the URL to leave it.")
    if on:
        st.query_params["present"] = "1"
        st.markdown(PRESENT_CSS, unsafe_allow_html=True)
    elif "present" in st.query_params:
        del st.query_params["present"]
    return on


def pick_run() -> tuple[str, str, float]:
    """The run picker (sidebar), bound to ``?run=``; explains and stops when there is no run."""
    root = loaders.artifact_root()
    runs = loaders.list_runs(root)
    if not runs:
        no_runs(root)
        st.stop()
    wanted = st.query_params.get("run") or st.session_state.get("run")
    if wanted is not None and wanted not in runs:
        st.warning(f"Run {plain(repr(wanted), 80)} from the link is not in {plain(root)}/; showing {plain(runs[0])} instead.")
        wanted = None
    default = wanted or ("quick" if "quick" in runs else runs[0])
    run_id = st.sidebar.selectbox("Run", runs, index=runs.index(default))
    st.session_state["run"] = run_id
    st.query_params["run"] = run_id
    return root, run_id, loaders.manifest_mtime(root, run_id)


def load(root: str, run_id: str, mtime: float):
    from taskfair.store import NoResultsYet
    try:
        res = loaders.results(root, run_id, mtime)
        loaders.settled(root, run_id, mtime)   # the thresholds baseline fitted with the run's loading, once
        return res
    except NoResultsYet as exc:  # training its first models: show how far it has got
        st.title("taskfair — fairness of task arithmetic")
        st.info(f"{plain(exc)}. The Overview appears as soon as FFT is evaluated (LoRA and task addition join it as "
                "they land).", icon=":material/hourglass_top:")
        follow(root, run_id, None)
        st.stop()
    except Exception as exc:  # damaged, tampered or unfinished run: say so, keep the app up
        st.error(f"This run cannot be shown: {plain(exc, 600)}")
        st.stop()


def split_picker(key: str = "split") -> str:
    return st.sidebar.radio("Split", ["test", "val"], key=key, horizontal=True,
                            help="λ is chosen on validation; report on test.")


def table(df: pd.DataFrame, name: str, *, present: bool = False) -> None:
    """A table with its CSV download (both hidden in presentation mode)."""
    if present:
        return
    # columns with no value at all (the standard error over seeds of a one-seed run) are noise
    # on screen, hidden by the browser (not dropped: a copy cost a slider move ~1 ms); the CSV keeps them
    empty = {c for c in ("sem", "n_seeds", "low", "high") if c in df.columns and df[c].isna().all()}
    st.dataframe(df, hide_index=True, width="stretch", column_order=[c for c in df.columns if c not in empty])
    # the CSV is written when the button is pressed, not on every rerun (a slider move)
    st.download_button(f"Download {name}.csv", lambda: df.to_csv(index=False).encode(), f"{name}.csv",
                       "text/csv", key=f"dl-{name}")


def explain_undefined(df: pd.DataFrame, value: str = "mean") -> None:
    """Say why any value in ``df`` is undefined (NaN), instead of showing a bare gap."""
    from taskfair.metrics.tables import undefined
    warn_undefined(undefined(df, value))


def warn_undefined(lines: Sequence[str]) -> None:
    """The warning :func:`explain_undefined` shows, from its lines already computed."""
    if lines:
        st.warning("Some values are undefined and left blank:\n\n" + "\n".join(f"- {x}" for x in lines[:12])
                   + ("\n- …" if len(lines) > 12 else ""), icon="⚠️")


def parse_lams(raw: str | None, groups: list[str], lo: float = 0.0,
               hi: float = 1.0) -> tuple[list[float] | None, str | None]:
    """λ values from ``?lam=0.1,-0.4,…`` within ``[lo, hi]`` (the run's λ range); (None, reason) for garbage."""
    from taskfair.steering.configurations import VariantSpecError, read_lams
    if raw is None:
        return None, None
    try:
        return list(read_lams(raw, groups, (lo, hi), what="?lam")), None
    except VariantSpecError as exc:
        return None, str(exc)


def no_runs(root: str) -> None:
    st.title("taskfair — fairness of task arithmetic")
    starting = loaders.starting_runs(root)
    if starting:  # `make demo`: the precompute beside the dashboard is loading its data and model
        st.info(f"The precompute of run **{plain(starting[0])}** is starting (loading the data and the model). "
                "This page follows it; the Overview appears as soon as FFT is evaluated.", icon=":material/hourglass_top:")

        @st.fragment(run_every=POLL_S)
        def wait() -> None:
            if loaders.list_runs(root):
                st.rerun()
        wait()
        return
    st.info(f"No precomputed runs under `{root}/` yet. Run `make precompute` in a terminal (the "
            "embedded default: MiniLM on RedditBias, about 20 minutes on 2 CPU cores), or start it here.")
    if st.button("Run the quick precompute now", type="primary"):
        run_quick_precompute(root)


def run_quick_precompute(root: str) -> None:
    """Start `python -m precompute --config quick` and follow its finished jobs with a progress bar."""
    from precompute import load_profile, validate_study

    cfg = load_profile("quick", {"output_root": root})
    validate_study(cfg)
    log = Path(root) / "precompute-quick.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "precompute", "--config", "quick", "--no-progress",
                             "--output-root", root], cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    bar = st.progress(0.0, text="Starting: loading the data and the model…")
    while proc.poll() is None:
        prog = loaders.progress(root, cfg.run_id)   # the store's progress (jobs weighed by cost)
        if prog is not None:
            bar.progress(min(prog.fraction, 0.99), text=prog.describe())
        time.sleep(2)
    if proc.returncode == 0:
        bar.progress(1.0, text="Done")
        st.success("Precompute finished.")
        st.cache_data.clear()
        st.rerun()
    else:
        st.error(f"The precompute failed (exit {proc.returncode}); see {log}:\n\n"
                 + log.read_text()[-2000:])
