"""The latency floor of a served rerun: a one-slider page, served by `python -m ui.serve` (the
dashboard's launcher: Nagle's algorithm off) and by plain `streamlit run`, one websocket client,
moves one after another. Reports, per launcher, the median time from sending a move to the
server's ``script_finished`` and the server's CPU time per move (its /proc counters): a gap
between the two is waiting, not work.

    python bench/bench_serve_floor.py [moves]
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench_serve_load import Session
from common import save, served

ROOT = Path(__file__).resolve().parent.parent
PAGE = 'import streamlit as st\nst.write(st.slider("x", 0.0, 1.0, step=0.05, key="x"))\n'


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(launcher: str, folder: str, moves: int) -> dict:
    with served(cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)}, launcher=launcher,
                options=("--server.enableXsrfProtection", "false", "--runner.postScriptGC", "false",
                         "--server.fileWatcherType", "none")) as (app, port):

        async def run() -> dict:
            s = Session(f"ws://127.0.0.1:{port}/_stcore/stream", "")
            await s.open(page_name="")
            rng = np.random.default_rng(0)
            move = lambda: s.rerun({s.sliders["x"]: round(rng.uniform(0, 1) / 0.05) * 0.05})   # noqa: E731
            for _ in range(10):
                await move()
            c0 = _cpu_s(app.pid)
            times = [await move() for _ in range(moves)]
            cpu = (_cpu_s(app.pid) - c0) / moves
            await s.close()
            return {"median_ms": float(np.median(times) * 1e3), "min_ms": float(np.min(times) * 1e3),
                    "server_cpu_ms_per_move": cpu * 1e3}
        return asyncio.run(run())


def main(moves: str = "80") -> None:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "app.py").write_text(PAGE)
        res = {launcher: one(launcher, folder, int(moves)) for launcher in ("streamlit", "ui.serve")}
    print(json.dumps(res, indent=2))
    save("serve-floor", res)


if __name__ == "__main__":
    main(*sys.argv[1:])
