"""Shared helpers for the benchmarks: timing with medians, machine description, result files."""
from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import time
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "results"


def timeit(fn: Callable[[], object], *, repeat: int = 7, warmup: int = 1) -> dict:
    """Median and spread of ``repeat`` timed calls (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return {"median_s": statistics.median(times), "min_s": times[0], "max_s": times[-1], "runs": repeat}


def interleaved(fns: dict[str, Callable[[], object]], *, repeat: int = 25, warmup: int = 2) -> dict:
    """Time several functions in turns (a, b, c, a, b, c, …), so that a noisy neighbour or a
    frequency change affects each alike; median and spread per function."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v), "runs": repeat}
            for k, v in times.items()}


def machine() -> dict:
    import torch
    return {"python": platform.python_version(), "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=float))
    print(f"wrote {path}")
    return path


def healthy(port: int) -> bool:
    """Whether the Streamlit server on ``port`` answers its health check now."""
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def wait_healthy(port: int, what: str, tries: int = 120) -> None:
    """Wait until the Streamlit server on ``port`` answers its health check (about a minute);
    stop the benchmark with ``what`` did not start otherwise."""
    for _ in range(tries):
        if healthy(port):
            return
        time.sleep(0.5)
    raise SystemExit(f"{what} did not start")


def free_port() -> int:
    """A TCP port free on this machine now (for a dashboard the benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
