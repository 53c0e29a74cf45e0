"""Concurrent dashboard use: eight sessions move Remix sliders while a ninth runs exact
evaluations. Each session must see only its own coefficients, the shared cached objects (θ0
models, estimators) must stay bit-identical, memory must stay bounded, and the sliders must keep
answering while an exact evaluation runs. The same scenario on the real quick run, with its
timings, is ``bench/bench_load.py`` (figures in RELIABILITY.md)."""
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from taskfair.steering.estimate import RemixEstimator
from taskfair.metrics.fairness import group_rates
from taskfair.store.results import load_results
from ui.harness import cache_fingerprint, evaluate_exactly, one_runtime_for_all_sessions

ROOT = Path(__file__).resolve().parent.parent
SESSIONS, MOVES = 8, 6


def test_eight_sessions_and_an_exact_evaluation_stay_isolated(pico_store, monkeypatch):
    one_runtime_for_all_sessions(monkeypatch)
    root, run_id = str(pico_store), "pico"
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", root)
    res = load_results(root, run_id)
    sr = next(iter(res.seeds.values()))
    ref = RemixEstimator(sr, "test")
    before = cache_fingerprint(root, run_id)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    errors: list[str] = []
    moves_done = [0] * SESSIONS
    exact_window = {}
    exact_done = threading.Event()

    def slider_session(i: int) -> None:
        try:
            rng = np.random.default_rng(100 + i)
            at = AppTest.from_file(str(ROOT / "pages" / "2_remix.py"), default_timeout=300)
            at.query_params["run"] = run_id
            at.run()
            # at least MOVES moves, and on until the exact evaluations are over (so that some moves
            # fall inside their window, however the threads are scheduled)
            while moves_done[i] < MOVES or (not exact_done.is_set() and moves_done[i] < 4 * MOVES):
                if moves_done[i] >= MOVES:
                    time.sleep(0.3)  # past its share: a move now and then, as a person would
                lams = tuple(float(x) for x in np.round(rng.uniform(0, 1, len(res.groups)) / 0.05) * 0.05)
                for slider, v in zip(at.slider[1:], lams):
                    slider.set_value(v)
                at.run()
                if at.exception:
                    errors.append(f"session {i}: {at.exception[0].value}")
                    return
                if "lam" not in at.query_params:
                    errors.append(f"session {i}: the page set no ?lam (warnings: "
                                  f"{[w.value for w in at.warning]}, markdown: {[m.value for m in at.markdown][:3]})")
                    return
                raw = at.query_params["lam"]
                raw = raw if isinstance(raw, str) else raw[0]
                shown = tuple(float(x) for x in raw.split(","))
                if not np.allclose(shown, lams):
                    errors.append(f"session {i} set {lams} but its URL shows {shown}")
                acc = float({m.label: m.value for m in at.metric}["Accuracy"].split()[0])  # "0.812 ±0.021"
                want = group_rates(ref.margins(lams) > 0, sr.labels["test"], sr.masks["test"]).overall_accuracy[0]
                if abs(acc - round(float(want), 3)) > 1e-9:
                    errors.append(f"session {i} at {lams} shows accuracy {acc}, its own λ give {want:.3f}")
                moves_done[i] += 1
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            import traceback
            errors.append(f"session {i}: {exc!r}\n{traceback.format_exc()[-6000:]}")

    def exact_session() -> None:
        try:
            at = AppTest.from_file(str(ROOT / "pages" / "2_remix.py"), default_timeout=300)
            at.query_params["run"] = run_id
            at.run()
            time.sleep(0.2)  # let the slider sessions get going
            exact_window["start_moves"] = sum(moves_done)
            for v in (0.15, 0.95):
                at.slider[0].set_value(v).run()           # the "all subgroups" slider
                evaluate_exactly(at)
                if at.exception:
                    errors.append(f"exact session: {at.exception[0].value}")
                    return
                if not at.success:
                    errors.append(f"exact session at λ={v}: no exact result shown")
            exact_window["end_moves"] = sum(moves_done)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"exact session: {exc!r}")

    threads = [threading.Thread(target=slider_session, args=(i,)) for i in range(SESSIONS)]
    threads.append(threading.Thread(target=exact_session))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not any(t.is_alive() for t in threads), "a session hung"
    for e in errors:   # whole, in the captured output (the assertion message below is cut short)
        print(e, file=sys.stderr)
    assert not errors, errors[:5]
    assert all(n >= MOVES for n in moves_done), moves_done
    # the sliders kept answering while the exact evaluations ran
    assert exact_window["end_moves"] > exact_window["start_moves"]
    assert cache_fingerprint(root, run_id) == before, "a shared cached object was modified"
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert growth_mib < 1500, f"peak memory grew by {growth_mib:.0f} MiB under load"


def test_overlapping_apptest_runs_stay_marked_as_test_runs(monkeypatch):
    """AppTest marks a run as a test run by swapping ``config.get_option`` for the run's length;
    when two sessions' runs overlap, the first to end restores the real one under the other, whose
    widgets then record no format_func (a KeyError on its radio's id, 2 of 5 full-suite runs).
    The harness sets the flag once for all sessions."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit import config
    real = config.get_option
    monkeypatch.setattr(config, "get_option", real)   # restored whatever happens below

    def overlap() -> object:
        a = app_test.patch_config_options({"global.appTest": True})
        b = app_test.patch_config_options({"global.appTest": True})
        a.__enter__()
        b.__enter__()
        a.__exit__(None, None, None)            # session A's run ends while B's still runs
        seen = config.get_option("global.appTest")
        b.__exit__(None, None, None)
        return seen

    assert not overlap()                        # AppTest alone: B runs unmarked (the race)
    monkeypatch.setattr(config, "get_option", real)   # (B's end left A's swap in place)
    one_runtime_for_all_sessions(monkeypatch)
    assert overlap() is True                    # with the harness: marked throughout
    with pytest.raises(RuntimeError, match="overrides"):
        app_test.patch_config_options({"global.appTest": True, "server.headless": True})
