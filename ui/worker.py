"""Exact evaluations outside the dashboard's server process.

One worker process (spawned once per server, on first use) takes the jobs in the order they come;
a page submits a job and polls its progress, so slider moves in every session stay as fast as
without it while the model runs (the evaluation's CPU time and memory are the worker's). The same
remix asked for by two sessions is evaluated once. In the worker, the loaded run and θ0 stay in
memory between jobs of the same run version.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import tempfile
import threading
import uuid
from typing import Any, NamedTuple

__all__ = ["ExactPool", "Status"]

MAX_KEPT = 256          # finished jobs remembered (their small result tables)
_STATE: dict[str, Any] = {}   # in the worker process only: the loaded run and θ0 models


def _exact(root: str, run_id: str, mtime: float, split: str, lams: tuple[float, ...], progress_path: str):
    """Runs in the worker: exact metrics of the remix ``lams`` (mean over seeds)."""
    from taskfair.metrics.tables import seed_mean
    from taskfair.steering.exact import exact_metrics, load_theta0
    from taskfair.store import load_results

    def progress(fraction: float, text: str) -> None:
        tmp = f"{progress_path}.tmp"
        with open(tmp, "w") as f:
            json.dump([float(fraction), str(text)], f)
        os.replace(tmp, progress_path)

    if "threads" not in _STATE:
        # leave a core to the server, whose sessions keep moving sliders meanwhile
        import torch
        _STATE["threads"] = max(1, (os.cpu_count() or 1) - 1)
        torch.set_num_threads(_STATE["threads"])
    key = (root, run_id, mtime)
    if _STATE.get("key") != key:
        for k in ("key", "res", "bases"):
            _STATE.pop(k, None)
        progress(0.0, "Loading the run…")
        _STATE.update(key=key, res=load_results(root, run_id), bases={})
    res, bases = _STATE["res"], _STATE["bases"]
    for seed in res.seeds:
        if seed not in bases:
            progress(0.0, f"Rebuilding θ0 (seed {seed})…")
            bases[seed] = load_theta0(res.open_run(), seed)
    table = exact_metrics(res, lams, splits=(split,), bases=bases, progress=progress)
    return seed_mean(table, ["group", "metric"])


class Status(NamedTuple):
    state: str          # none | queued | running | done | failed
    fraction: float
    text: str
    result: Any         # the metrics table when done, the exception when failed


class ExactPool:
    """A queue of exact evaluations served by one worker process; shared by every session of a
    server (its own lock guards the job table; nothing else about it changes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir = tempfile.mkdtemp(prefix="taskfair-exact-")
        self._jobs: dict[tuple, tuple[cf.Future, str]] = {}
        self._executor = self._start()

    @staticmethod
    def _start() -> cf.ProcessPoolExecutor:
        # spawn: a fresh interpreter, not a fork of a server with threads and open sockets
        return cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))

    def submit(self, root: str, run_id: str, mtime: float, split: str, lams: tuple[float, ...]) -> tuple:
        """Queue the exact evaluation of ``lams`` (unless it is queued, running or done); its key."""
        key = (root, run_id, mtime, split, tuple(lams))
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not (job[0].done() and job[0].exception() is not None):
                return key
            path = os.path.join(self._dir, f"{uuid.uuid4().hex}.json")
            try:
                fut = self._executor.submit(_exact, root, run_id, mtime, split, tuple(lams), path)
            except (cf.BrokenExecutor, RuntimeError):  # the worker died (killed, out of memory): a new one
                self._executor = self._start()
                fut = self._executor.submit(_exact, root, run_id, mtime, split, tuple(lams), path)
            self._jobs[key] = (fut, path)
            self._forget_old()
        return key

    def status(self, key: tuple) -> Status:
        job = self._jobs.get(key)
        if job is None:
            return Status("none", 0.0, "", None)
        fut, path = job
        if fut.done():
            exc = fut.exception()
            if exc is not None:
                return Status("failed", 1.0, f"{type(exc).__name__}: {exc}", exc)
            return Status("done", 1.0, "", fut.result())
        try:
            with open(path) as f:
                fraction, text = json.load(f)
            return Status("running", fraction, text, None)
        except (OSError, ValueError):
            return Status("queued", 0.0, "Starting the worker…" if fut.running()
                          else "Queued behind another exact evaluation…", None)

    def _forget_old(self) -> None:
        done = [k for k, (f, _) in self._jobs.items() if f.done()]
        for k in done[:max(0, len(self._jobs) - MAX_KEPT)]:
            _, path = self._jobs.pop(k)
            for p in (path, f"{path}.tmp"):
                try:
                    os.unlink(p)
                except OSError:
                    pass
