"""Shared helpers for the benchmarks: timing with medians, machine description, result files."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

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


def cpu_facts() -> dict:
    """The processor's model and the instruction sets that decide bf16 speed (Linux)."""
    model, flags = platform.processor() or platform.machine(), set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return {"cpu_model": model, "avx2": "avx2" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx_bf16": "amx_bf16" in flags}


def machine() -> dict:
    import torch
    return {"python": platform.python_version(), "torch": torch.__version__, **cpu_facts(),
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


@contextlib.contextmanager
def served(*, cwd: str | Path, env: dict, launcher: str = "ui.serve", options: Sequence[str] = (),
           wait: bool = True) -> Iterator[tuple[subprocess.Popen, int]]:
    """``app.py`` in ``cwd`` served on a free port of 127.0.0.1, as ``python -m ui.serve`` (the
    dashboard's launcher) or, with ``launcher="streamlit"``, plain ``streamlit run``; extra
    Streamlit ``options`` after the common ones. Yields ``(process, port)`` once the server answers
    its health check (``wait=False``: at once), and stops the server when the block ends."""
    port = free_port()
    cmd = ["-m", "ui.serve"] if launcher == "ui.serve" else ["-m", "streamlit", "run"]
    app = subprocess.Popen([sys.executable, *cmd, "app.py", "--server.address", "127.0.0.1", "--server.port", str(port),
                            "--server.headless", "true", "--browser.gatherUsageStats", "false", *options],
                           cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if wait:
            wait_healthy(port, f"the dashboard ({' '.join(cmd[1:])} app.py)")
        yield app, port
    finally:
        app.terminate()
        app.wait(timeout=30)


def proc_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of a process from /proc (``VmRSS`` now, ``VmHWM`` its peak), in MB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(x.split()[1]) / 1024 for x in f if x.startswith(field))
