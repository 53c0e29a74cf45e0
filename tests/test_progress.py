"""How far a run still computing has got: jobs weighed by their cost, and the time left at the
pace each kind of job (training, evaluation) has had since the precompute started."""
import datetime as dt
import json
import os
import socket

import pytest

from taskfair.store import ArtifactStore, run_progress

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def _run(tmp_path, plan, finished):
    run = ArtifactStore(tmp_path).create("r", {"name": "r"})
    run.save_plan({"started": T0.isoformat(), "jobs": plan})
    for job, seconds in finished.items():
        run.manifest["jobs"][job] = {"files": [], "finished": (T0 + dt.timedelta(seconds=seconds)).isoformat()}
    return run


def test_time_left_uses_the_pace_of_each_kind(tmp_path):
    plan = [["data", 0], ["s/train/fft", 300], ["s/train/g", 100], ["s/eval/a", 50], ["s/eval/b", 50],
            ["s/eval/c", 100], ["metrics", 0]]
    # training: 400 units in 40 s (10/s); evaluation: 50 units in 10 s (5/s)
    run = _run(tmp_path, plan, {"data": 0, "s/train/fft": 30, "s/train/g": 40, "s/eval/a": 50})
    p = run_progress(run, now=T0 + dt.timedelta(seconds=50))
    assert (p.jobs_done, p.jobs_total) == (4, 7)
    assert p.fraction == pytest.approx(450 / 600)
    assert p.eta_s == pytest.approx(150 / 5)          # 150 evaluation units left at 5/s
    assert p.pending == ("s/eval/b", "s/eval/c", "metrics")
    assert p.last_job == "s/eval/a" and not p.running
    # time since the last job counts against the estimate, never below zero
    assert run_progress(run, now=T0 + dt.timedelta(seconds=60)).eta_s == pytest.approx(20)
    assert run_progress(run, now=T0 + dt.timedelta(seconds=500)).eta_s == 0
    assert "4/7 jobs (75%)" in p.describe() and "no precompute is running" in p.describe()


def test_before_any_costed_job_the_time_left_is_unknown_and_a_live_lock_means_running(tmp_path):
    run = _run(tmp_path, [["data", 0], ["s/train/fft", 10], ["metrics", 0]], {"data": 1})
    (run.path / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    p = run_progress(run, now=T0 + dt.timedelta(seconds=5))
    assert p.eta_s is None and p.running and "estimating the time left" in p.describe()
    assert p.fraction == 0 and not p.finished


def test_a_run_without_a_plan_or_with_a_garbled_one_has_no_progress(tmp_path):
    run = ArtifactStore(tmp_path).create("r", {"name": "r"})
    assert run_progress(run) is None
    (run.path / "plan.json").write_text("{not json")
    assert run_progress(run) is None
