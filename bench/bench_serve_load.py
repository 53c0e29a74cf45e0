"""The load test against a real server: the dashboard served as `make app` serves it (`python -m
ui.serve app.py`, i.e. `streamlit run` with Nagle's algorithm off) in its own process, and 8 browser
sessions played by websocket clients in another (Streamlit's own protocol: a ``BackMsg`` with the
widget states in, ``ForwardMsg`` deltas out), while a 9th session presses *Evaluate exactly*.

What is timed is what a browser waits for after releasing a slider: from sending the rerun to
the server's ``script_finished``, every element of the page received. Unlike ``bench_load.py``
(sessions as ``AppTest`` threads inside the measuring process), the clients do not share the
server's interpreter; they do share this machine's cores (one asyncio loop in another process).
The 9th session follows its exact evaluation by rerunning the whole page every 0.5 s, where a
browser reruns only the page's progress fragment once a second: a heavier load than a browser's.

    python bench/bench_serve_load.py [artifact_root] [run_id] [moves_per_session] [think_s] [launcher] [gc]

``launcher``: ``ui.serve`` (default) or ``streamlit`` (plain `streamlit run`, the baseline: every
rerun's later messages wait ~40 ms for the client's delayed acknowledgement). ``gc``: ``off`` (the
dashboard's ``runner.postScriptGC = false``, default) or ``on`` (Streamlit's default: a full
collection after every rerun), to weigh that setting.

Two phases, as in ``bench_load.py``: the 8 sessions alone, then the same while the 9th runs two
exact evaluations (they keep moving until it is done). ``think_s``: the pause between one
session's moves (0.05: dragged without pause; 1: a person who reads each result, 0.5–1.5 s).
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from common import proc_mb, save, served

ROOT = Path(__file__).resolve().parent.parent


class Session:
    """One browser tab on the Remix page, speaking the websocket protocol."""

    def __init__(self, url: str, query: str):
        self.url, self.query = url, query
        self.sliders: dict[str, str] = {}   # label -> widget id
        self.state: dict[str, float] = {}   # widget id -> value (every slider's, sent with every rerun)
        self.buttons: dict[str, str] = {}   # label -> widget id
        self.texts: list[str] = []
        self.page_hash = ""

    async def connect(self) -> None:
        import websockets
        self.ws = await websockets.connect(self.url, subprotocols=["streamlit"], max_size=2 ** 26)

    async def open(self, page_name: str = "remix") -> None:
        await self.connect()
        await self.rerun({}, page_name=page_name)

    async def close(self) -> None:
        await self.ws.close()

    async def rerun(self, states: dict[str, object], *, page_name: str = "") -> float:
        """Send one rerun with these widget states; seconds until the script finished."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash
        if page_name:
            cs.page_name = page_name
        self.state.update({k: v for k, v in states.items() if v is not True})
        for wid, value in {**self.state, **states}.items():
            w = cs.widget_states.widgets.add()
            w.id = wid
            if value is True:
                w.trigger_value = True
            else:
                w.double_array_value.data.extend([float(value)])
        t = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        self.texts = []
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(self.ws.recv(), timeout=600))
            kind = fm.WhichOneof("type")
            if kind == "navigation" and fm.navigation.page_script_hash:
                self.page_hash = fm.navigation.page_script_hash
            elif kind == "page_info_changed":
                self.query = fm.page_info_changed.query_string
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                which = el.WhichOneof("type")
                if which == "slider":
                    self.sliders[el.slider.label] = el.slider.id
                    self.state.setdefault(el.slider.id, el.slider.value[0] if el.slider.value else el.slider.default[0])
                elif which == "button":
                    self.buttons[el.button.label] = el.button.id
                elif which in ("alert", "markdown"):
                    self.texts.append(getattr(el, which).body)
                elif which == "exception":
                    raise RuntimeError(f"the page raised: {el.exception.message}")
            elif kind == "script_finished":
                if fm.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise RuntimeError("the page failed to compile")
                if fm.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY,
                                          ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                    return time.perf_counter() - t


async def _run(url: str, run_id: str, moves: int, think: float) -> dict:
    samples: list[tuple[float, float, int, bool]] = []   # (start, seconds, session, exact running)
    exact_busy = asyncio.Event()
    exact_over = asyncio.Event()
    exact_times: list[float] = []
    t0 = time.perf_counter()

    async def sliders(i: int, n: int, until_exact_over: bool) -> None:
        rng = np.random.default_rng(i + (100 if until_exact_over else 0))
        s = Session(url, f"run={run_id}")
        await s.open()
        groups = [k for k in s.sliders if k != "all subgroups"]
        done = 0
        pause = (lambda: think if think <= 0.1 else rng.uniform(0.5, 1.5) * think)
        await asyncio.sleep(pause())   # people do not all start moving at the same instant either
        while done < n or (until_exact_over and not exact_over.is_set()):
            lams = np.round(rng.uniform(0, 1, len(groups)) / 0.05) * 0.05
            busy = exact_busy.is_set()
            start = time.perf_counter()
            dt = await s.rerun({s.sliders[g]: v for g, v in zip(groups, lams)})
            samples.append((start - t0, dt, i, busy or exact_busy.is_set()))
            from urllib.parse import parse_qs
            shown = parse_qs(s.query).get("lam", [""])[0].split(",")
            if len(shown) != len(lams) or not np.allclose([float(x) for x in shown], lams):
                raise RuntimeError(f"session {i}: the page shows {s.query}, not λ = {list(lams)}")
            done += 1
            await asyncio.sleep(pause())
        await s.close()

    async def exact() -> None:
        s = Session(url, f"run={run_id}")
        await s.open()
        await asyncio.sleep(1.0)
        for v in (0.3, 0.6):
            await s.rerun({wid: v for label, wid in s.sliders.items() if label != "all subgroups"})
            exact_busy.set()
            t = time.perf_counter()
            await s.rerun({s.buttons["Evaluate exactly"]: True})
            while not any("Exact evaluation done" in x for x in s.texts):
                if any("exact evaluation failed" in x for x in s.texts) or time.perf_counter() - t > 600:
                    raise RuntimeError("the exact evaluation failed or took over 10 minutes")
                await asyncio.sleep(0.5)   # the browser's progress poll: rerun the page
                await s.rerun({})
            exact_times.append(time.perf_counter() - t)
            exact_busy.clear()
        exact_over.set()
        await s.close()

    await asyncio.gather(*(sliders(i, moves, False) for i in range(8)))
    await asyncio.gather(*(sliders(i, moves, True) for i in range(8)), exact())
    free = np.array([d for _, d, _, b in samples if not b]) * 1e3
    during = np.array([d for _, d, _, b in samples if b]) * 1e3

    def stat(a: np.ndarray, q: float) -> float | None:
        return float(np.percentile(a, q)) if len(a) else None
    return {
        "sessions": 8, "moves_per_session": moves, "think_s": think, "wall_s": time.perf_counter() - t0,
        "slider_moves_without_exact": int(len(free)),
        "slider_ms_median_without_exact": stat(free, 50), "slider_ms_p95_without_exact": stat(free, 95),
        "slider_moves_during_exact": int(len(during)),
        "slider_ms_median_during_exact": stat(during, 50), "slider_ms_p95_during_exact": stat(during, 95),
        "exact_evaluation_s": exact_times,
        "timeline": [(round(a, 3), i, round(d * 1e3, 1), b) for a, d, i, b in sorted(samples)],
    }


def main(root: str = "artifacts", run_id: str = "quick", moves: str = "10", think: str = "0.05",
         launcher: str = "ui.serve", gc: str = "off") -> None:
    if launcher not in ("ui.serve", "streamlit"):
        raise SystemExit(f"launcher must be ui.serve (the dashboard's) or streamlit (plain `streamlit run`), not {launcher!r}")
    if gc not in ("off", "on"):
        raise SystemExit(f"gc must be off (the dashboard's setting) or on (Streamlit's default), not {gc!r}")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TASKFAIR_ARTIFACTS": str(Path(root).resolve()),
           "PYTHONPATH": str(ROOT)}
    with served(cwd=ROOT, env=env, launcher=launcher,
                options=("--server.enableXsrfProtection", "false",
                         "--runner.postScriptGC", "true" if gc == "on" else "false")) as (app, port):
        url = f"ws://127.0.0.1:{port}/_stcore/stream"

        async def warm() -> dict:
            out = {}
            s = Session(url, f"run={run_id}")
            t = time.perf_counter()
            await s.open()       # the first visitor: the run is loaded and verified
            out["first_page_cold_s"] = time.perf_counter() - t
            await s.close()
            for name in ("", "remix"):
                s = Session(url, f"run={run_id}")
                await s.connect()
                t = time.perf_counter()
                await s.rerun({}, page_name=name)
                out[f"first_page_warm_s/{name or 'overview'}"] = time.perf_counter() - t
                await s.close()
            return out
        res = asyncio.run(warm())
        res.update(asyncio.run(_run(url, run_id, int(moves), float(think))))
        res["server_peak_rss_MB"] = proc_mb(app.pid, "VmHWM")
    res["launcher"], res["postScriptGC"] = launcher, gc == "on"
    print(json.dumps({k: v for k, v in res.items() if k != "timeline"}, indent=2))
    name = "serve-load" if float(think) <= 0.1 else f"serve-load-think{float(think):g}"
    save(name + ("-plain" if launcher == "streamlit" else "") + ("-gc" if gc == "on" else ""), res)


if __name__ == "__main__":
    main(*sys.argv[1:])
