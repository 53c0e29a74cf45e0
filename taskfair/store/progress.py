"""How far a run has got: its finished jobs against the plan the pipeline stored when it
started, the share of the work done (jobs weighed by their cost) and an estimate of the time
left from the pace of the jobs finished since the run (re)started."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from .lock import lock_holder
from .run import Run

__all__ = ["RunProgress", "run_progress"]


@dataclass(frozen=True)
class RunProgress:
    jobs_done: int
    jobs_total: int
    fraction: float             # of the work (jobs weighed by their cost in the plan), 0–1
    eta_s: float | None         # seconds left at the pace so far; None until a costed job finished
    elapsed_s: float            # since the precompute (re)started
    running: bool               # a live process holds the run's lock
    last_job: str | None
    pending: tuple[str, ...]    # jobs not finished yet, in plan order

    @property
    def finished(self) -> bool:
        return self.jobs_done >= self.jobs_total

    def done(self, job: str) -> bool:
        return job not in self.pending

    def describe(self) -> str:
        """One line: ``41/131 jobs (38%) · about 12 min left · last: seed13/eval/uniform``."""
        eta = "estimating the time left" if self.eta_s is None else f"about {_duration(self.eta_s)} left"
        state = "" if self.running else " · no precompute is running: start it to go on"
        last = f" · last: {self.last_job}" if self.last_job else ""
        return f"{self.jobs_done}/{self.jobs_total} jobs ({self.fraction:.0%}) · {eta}{last}{state}"


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _time(stamp: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(stamp)


def _kind(job: str) -> str:
    return "train" if "/train/" in job else "eval"


def run_progress(run: Run, *, now: _dt.datetime | None = None) -> RunProgress | None:
    """The progress of ``run`` against its stored plan (None for a run stored without one).

    The plan is ``{"started": iso time, "jobs": [[job, cost], …]}`` (in the order they run), written by the pipeline each time
    it starts or resumes the run. The time left is the remaining cost of the training jobs and of
    the evaluation jobs, each at the pace its kind has had since ``started``."""
    plan = run.plan()
    if not plan:
        return None
    now = now or _dt.datetime.now(_dt.timezone.utc)
    jobs: dict[str, float] = {j: float(c) for j, c in plan["jobs"]}
    started = _time(plan["started"])
    finished = {j: _time(e["finished"]) for j, e in run.manifest["jobs"].items() if j in jobs}
    total = sum(jobs.values()) or 1.0
    done_cost = sum(jobs[j] for j in finished)
    # the pace of each kind of job (training, evaluation) from the jobs finished since the start,
    # each job taking the time since the one before it; a kind not seen yet borrows the other's
    spent = {"train": [0.0, 0.0], "eval": [0.0, 0.0]}   # kind -> [cost, seconds]
    prev = started
    for j, t in sorted(((j, t) for j, t in finished.items() if t >= started), key=lambda x: x[1]):
        kind = _kind(j)
        spent[kind][0] += jobs[j]
        spent[kind][1] += max(0.0, (t - prev).total_seconds())
        prev = t
    pace = {k: c / s for k, (c, s) in spent.items() if c > 0 and s > 0}
    eta = None
    if pace:
        left = {"train": 0.0, "eval": 0.0}
        for j, c in jobs.items():
            if j not in finished:
                left[_kind(j)] += c
        fallback = next(iter(pace.values()))
        eta = sum(c / pace.get(k, fallback) for k, c in left.items())
        # the time since the last job finished counts against the estimate
        eta = max(0.0, eta - max(0.0, (now - prev).total_seconds()))
    last = max(finished, key=finished.get) if finished else None
    return RunProgress(jobs_done=len(finished), jobs_total=len(jobs), fraction=min(1.0, done_cost / total),
                       eta_s=eta, elapsed_s=max(0.0, (now - started).total_seconds()),
                       running=lock_holder(run.path) is not None, last_job=last,
                       pending=tuple(j for j in jobs if j not in finished))
