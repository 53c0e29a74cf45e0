"""Memory soak of the served dashboard: thousands of Remix reruns against one server, as the
dashboard serves them (``.streamlit/config.toml``: no full garbage collection after each rerun),
against the same server with Streamlit's default collection after every rerun, in the same run.

Sessions come and go as people do: each plays ``moves_per_session`` slider moves back to back
and closes, and the next one opens, until ``reruns`` moves are done. The server's resident memory
(``VmRSS``) is sampled after every ``sample_every`` moves. Reported per server: RSS at the first sample,
at the end and at its peak, the growth over the second half (MB per 1,000 reruns), and the rerun
median. Every move is a new λ, so the Remix page's cache of estimated views fills up (it keeps
2,048: about 17 MB measured) over the first 2,048 moves; run more than twice that many, so that a leak shows
as a slope in the second half and the filling cache does not.

    python bench/bench_serve_soak.py [artifact_root] [run_id] [reruns: 6000] [moves_per_session: 200]
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench_serve_load import Session
from common import proc_mb, save, served

ROOT = Path(__file__).resolve().parent.parent


async def _soak(url: str, run_id: str, pid: int, reruns: int, per_session: int, sample_every: int) -> dict:
    rng = np.random.default_rng(0)
    samples: list[tuple[int, float]] = []
    times: list[float] = []
    done = 0
    while done < reruns:
        s = Session(url, f"run={run_id}")
        await s.open()
        groups = [k for k in s.sliders if k != "all subgroups"]
        for _ in range(min(per_session, reruns - done)):
            lams = np.round(rng.uniform(0, 1, len(groups)) / 0.05) * 0.05
            times.append(await s.rerun({s.sliders[g]: v for g, v in zip(groups, lams)}))
            done += 1
            if done % sample_every == 0:
                samples.append((done, proc_mb(pid)))
        await s.close()
    xs, ys = np.array(samples, dtype=float).T
    half = xs >= xs[-1] / 2
    slope = float(np.polyfit(xs[half], ys[half], 1)[0] * 1000) if half.sum() > 1 else float("nan")
    return {"reruns": done, "sessions": -(-done // per_session), "rss_first_sample_MB": float(ys[0]),
            "rss_end_MB": float(ys[-1]), "rss_max_MB": float(ys.max()),
            "growth_second_half_MB_per_1000_reruns": slope,
            "rerun_ms_median": float(np.median(times) * 1e3), "rerun_ms_p95": float(np.percentile(times, 95) * 1e3),
            "samples": samples}


def serve_and_soak(root: str, run_id: str, reruns: int, per_session: int, post_script_gc: bool) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TASKFAIR_ARTIFACTS": str(Path(root).resolve()),
           "PYTHONPATH": str(ROOT)}
    with served(cwd=ROOT, env=env, options=("--server.enableXsrfProtection", "false",
                                            "--runner.postScriptGC", str(post_script_gc).lower())) as (app, port):
        url = f"ws://127.0.0.1:{port}/_stcore/stream"
        t = time.perf_counter()
        res = asyncio.run(_soak(url, run_id, app.pid, reruns, per_session, max(reruns // 40, 1)))
        res["wall_s"] = time.perf_counter() - t
        res["rss_peak_MB"] = proc_mb(app.pid, "VmHWM")
    res["postScriptGC"] = post_script_gc
    return res


def main(root: str = "artifacts", run_id: str = "quick", reruns: str = "6000", per_session: str = "200") -> None:
    out = {}
    for gc_on in (False, True):   # the dashboard's setting, then Streamlit's default as the baseline
        r = serve_and_soak(root, run_id, int(reruns), int(per_session), gc_on)
        out["gc_after_each_rerun" if gc_on else "dashboard"] = r
        print(json.dumps({k: v for k, v in r.items() if k != "samples"}, indent=2), flush=True)
    save("serve-soak", out)


if __name__ == "__main__":
    main(*sys.argv[1:])
