"""Concurrent dashboard use on the embedded default: 8 sessions move Remix sliders while a 9th
runs exact evaluations (merge + MiniLM forward). Reports slider latency (whole page rerun, server
side) with and without the exact evaluation running, the exact evaluation's time, peak RSS,
and the isolation checks of tests/test_load.py (through ui/harness.py) (own coefficients only, shared caches unchanged).

    python bench/bench_load.py [artifact_root] [run_id] [moves_per_session] [think_s]

Two phases: the 8 sessions alone, then the same 8 while a 9th runs two exact evaluations (they
keep moving until it is done). ``think_s`` is the pause between one session's moves: 0.05 (the
default) is a slider dragged without pause; 1 is a person who reads each result (0.5–1.5 s).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from common import save

ROOT = Path(__file__).resolve().parent.parent


def main(root: str = "artifacts", run_id: str = "quick", moves: str = "15", think: str = "0.05") -> None:
    from streamlit.testing.v1 import AppTest
    from ui.harness import cache_fingerprint, evaluate_exactly, one_runtime_for_all_sessions

    os.environ["TASKFAIR_ARTIFACTS"] = root
    mp = pytest.MonkeyPatch()
    one_runtime_for_all_sessions(mp)
    moves, think = int(moves), float(think)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # warm the shared caches once (as the first visitor of a server would)
    warm = AppTest.from_file(str(ROOT / "pages" / "2_remix.py"), default_timeout=600)
    warm.query_params["run"] = run_id
    t = time.perf_counter()
    warm.run()
    first_page_cold = time.perf_counter() - t
    # a new visitor once the run is loaded: the Overview and the Remix page, first render
    first_page_warm = {}
    for name in ("0_overview.py", "2_remix.py"):
        fresh = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=600)
        fresh.query_params["run"] = run_id
        t = time.perf_counter()
        fresh.run()
        first_page_warm[name] = time.perf_counter() - t
    before = cache_fingerprint(root, run_id)
    rss_warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    exact_busy = threading.Event()
    exact_over = threading.Event()
    t0 = time.perf_counter()
    samples: list[tuple[float, bool]] = []
    errors: list[str] = []
    exact_times: list[float] = []
    lock = threading.Lock()
    timeline: list[tuple[float, int, float, bool]] = []  # (start s since t0, session, rerun ms, exact running)
    exact_spans: list[tuple[float, float]] = []

    def slider_session(i: int, n_moves: int, until_exact_over: bool) -> None:
        rng = np.random.default_rng(i + (100 if until_exact_over else 0))
        at = AppTest.from_file(str(ROOT / "pages" / "2_remix.py"), default_timeout=600)
        at.query_params["run"] = run_id
        at.run()
        done = 0
        pause = (lambda: think if think <= 0.1 else rng.uniform(0.5, 1.5) * think)
        time.sleep(pause())   # people do not all start moving at the same instant either
        while done < n_moves or (until_exact_over and not exact_over.is_set()):
            lams = tuple(float(x) for x in np.round(rng.uniform(0, 1, len(at.slider) - 1) / 0.05) * 0.05)
            for s, v in zip(at.slider[1:], lams):
                s.set_value(v)
            busy = exact_busy.is_set()
            t = time.perf_counter()
            at.run()
            dt = time.perf_counter() - t
            raw = at.query_params.get("lam")
            raw = raw if isinstance(raw, str) else (raw or [""])[0]
            if at.exception or not np.allclose([float(x) for x in raw.split(",")], lams):
                errors.append(f"session {i}: {raw} != {lams}")
            busy = busy or exact_busy.is_set()
            with lock:
                samples.append((dt, busy))
                timeline.append((round(t - t0, 3), i, round(dt * 1e3, 1), busy))
            done += 1
            # a person reads the result before the next move: `think` seconds on average
            time.sleep(pause())

    def exact_session() -> None:
        at = AppTest.from_file(str(ROOT / "pages" / "2_remix.py"), default_timeout=600)
        at.query_params["run"] = run_id
        at.run()
        time.sleep(1.0)
        for v in (0.3, 0.6):
            at.slider[0].set_value(v).run()
            exact_busy.set()
            t = time.perf_counter()
            evaluate_exactly(at)
            exact_times.append(time.perf_counter() - t)
            exact_spans.append((round(t - t0, 3), round(time.perf_counter() - t0, 3)))
            exact_busy.clear()
            if at.exception or not at.success:
                errors.append("exact session failed")
        exact_over.set()

    def phase(threads: list[threading.Thread]) -> None:
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # phase 1: the 8 sessions alone; phase 2: the same while a 9th runs two exact evaluations
    phase([threading.Thread(target=slider_session, args=(i, moves, False)) for i in range(8)])
    phase([threading.Thread(target=slider_session, args=(i, moves, True)) for i in range(8)]
          + [threading.Thread(target=exact_session)])
    wall = time.perf_counter() - t0
    after = cache_fingerprint(root, run_id)
    free = np.array([d for d, b in samples if not b]) * 1e3
    during = np.array([d for d, b in samples if b]) * 1e3
    res = {
        "sessions": 8, "moves_per_session": moves, "think_s": think, "wall_s": wall,
        "slider_moves_without_exact": int(len(free)),
        "slider_ms_median_without_exact": float(np.median(free)) if len(free) else None,
        "slider_ms_p95_without_exact": float(np.percentile(free, 95)) if len(free) else None,
        "slider_moves_during_exact": int(len(during)),
        "slider_ms_median_during_exact": float(np.median(during)) if len(during) else None,
        "slider_ms_p95_during_exact": float(np.percentile(during, 95)) if len(during) else None,
        "exact_evaluation_s": exact_times, "exact_in": "a worker process (ui/worker.py)",
        "first_page_cold_s": first_page_cold, "first_page_warm_s": first_page_warm,
        "peak_rss_MB_start": rss0 / 1024, "peak_rss_MB_after_warmup": rss_warm / 1024,
        "peak_rss_MB_end": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "shared_caches_unchanged": before == after, "errors": errors[:10],
        "exact_spans_s": exact_spans, "timeline": sorted(timeline),
    }
    mp.undo()
    print(json.dumps({k: v for k, v in res.items() if k != "timeline"}, indent=2))
    save("load" if think <= 0.1 else f"load-think{think:g}", res)


if __name__ == "__main__":
    main(*sys.argv[1:])
