"""Driving many dashboard sessions in one process (the concurrency test and the load benchmark
share it): one shared runtime for every ``AppTest`` session, as a real server has, and a
fingerprint of what ``st.cache_resource`` shares between sessions, to prove nobody mutated it."""
from __future__ import annotations

from taskfair.vectors.taskvector import model_weights, weights_sha256

__all__ = ["cache_fingerprint", "one_runtime_for_all_sessions", "evaluate_exactly"]


def cache_fingerprint(root: str, run_id: str) -> dict:
    """Hashes of what st.cache_resource shares between sessions (same process-wide cache)."""
    from ui import loaders
    mtime = loaders.manifest_mtime(root, run_id)
    res = loaders.results(root, run_id, mtime)
    out = {}
    for seed in res.seeds:
        model, _ = loaders.theta0(root, run_id, seed)
        out[f"theta0/{seed}"] = weights_sha256(model_weights(model))
    for split in ("val", "test"):
        for i, est in enumerate(loaders.estimators(root, run_id, mtime, split)):
            out[f"est/{split}/{i}"] = hash(est.base.tobytes()) ^ hash(est.residual.tobytes())
    return out


def one_runtime_for_all_sessions(monkeypatch) -> None:
    """AppTest swaps a mock Runtime into a global before each run and clears it after, which is
    fine for one session at a time but races between threads. Install one shared mock runtime
    (as a real server has one runtime for all its sessions) and let AppTest's swaps go nowhere;
    likewise one cache of compiled page scripts."""
    from unittest.mock import MagicMock

    import streamlit.testing.v1.app_test as app_test
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.runtime.media_file_manager import MediaFileManager

    shared = MagicMock(spec=Runtime)
    shared.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    shared.cache_storage_manager = MemoryCacheStorageManager()
    shared.dataframe_source_mgr = DataframeSourceManager()
    components = BidiComponentManager()
    components.discover_and_register_components(start_file_watching=False)
    shared.bidi_component_registry = components
    monkeypatch.setattr(Runtime, "_instance", shared)

    class _Sink:
        _instance = None
    monkeypatch.setattr(app_test, "Runtime", _Sink)
    # one compiled-script cache for every session, as a server has (AppTest's runner compiles the
    # page afresh on every run; compiling in many threads at once trips a CPython 3.11 bug:
    # "SystemError: AST constructor recursion depth mismatch")
    import streamlit.testing.v1.local_script_runner as local_runner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    scripts = ScriptCache()
    monkeypatch.setattr(local_runner, "ScriptCache", lambda: scripts)
    # AppTest marks each run as a test run by swapping streamlit.config.get_option for the run's
    # length (global.appTest: widgets then record their format_func for the tree to read). Swaps
    # that overlap in threads restore each other's: a session ran with the flag off, recorded no
    # format_func, and reading its radio's value failed (KeyError on the widget id). Set the flag
    # once for all sessions, and let AppTest's swaps go nowhere.
    import contextlib

    from streamlit import config
    real_get_option = config.get_option
    monkeypatch.setattr(config, "get_option",
                        lambda name: True if name == "global.appTest" else real_get_option(name))

    def no_swap(overrides: dict):
        if set(overrides) != {"global.appTest"}:
            raise RuntimeError(f"AppTest now overrides {sorted(overrides)} for each run: extend "
                               "ui.harness.one_runtime_for_all_sessions to set them once")
        return contextlib.nullcontext()
    monkeypatch.setattr(app_test, "patch_config_options", no_swap)


def evaluate_exactly(at, *, timeout: float = 600.0, poll: float = 0.5):
    """Press the Remix page's *Evaluate exactly* in an ``AppTest`` session and rerun the page
    (as the browser's progress poll does) until the exact figures are shown; the session."""
    import time
    at.button(key="remix_exact").click().run()
    end = time.monotonic() + timeout
    while not at.exception and not any("Exact evaluation done" in s.value for s in at.success):
        if any("exact evaluation failed" in e.value for e in at.error) or time.monotonic() > end:
            break
        time.sleep(poll)
        at.run()
    return at
