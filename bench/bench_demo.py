"""`make demo` as a new user meets it: the dashboard starts, the `quick` precompute runs beside
it, and this records when each page has what it needs.

Reports, in seconds from the start: the dashboard answering (``/_stcore/health``), the Overview
renderable (θ0, FFT and LoRA in the results so far), the λ sweep, the heatmaps, and the whole run;
the stage timings; the number of grid points and the mean evaluation time of one; and, measured
after the run on the same data, one grid point's evaluation uncompiled (as the run evaluated
them; ``eval.compile`` is off by default) against compiled, interleaved.

    python bench/bench_demo.py [--points 3] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import healthy, save, served

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"overview": ("eval/reference",), "sweep": ("eval/uniform",),
         "heatmaps": ("eval/uniform", "eval/inject/")}


def _ready(root: Path, run_id: str) -> dict[str, bool]:
    """Which pages the results so far can show (what ui/common.page checks)."""
    from taskfair.store import ArtifactStore, StoreError, layout
    try:
        run = ArtifactStore(root).open(run_id, verify=False)
        if run.is_done(layout.METRICS_JOB):
            return {**{p: True for p in PAGES}, "whole run": True}
        so_far = run.interim()
        plan = [j for j, _ in (run.plan() or {"jobs": []})["jobs"]]
    except (StoreError, OSError, ValueError, KeyError):
        return {}
    if so_far is None or not plan:
        return {}
    done = set(so_far[1].get("jobs_done", ()))
    return {p: all(j in done for j in plan if any(n in j for n in needs)) for p, needs in PAGES.items()}


def grid_points(cfg) -> int:
    """The distinct grid points of a seed of ``cfg`` (θ0 and FFT, the job ``reference``, are
    evaluated before the grid, with the training jobs)."""
    from precompute.plan import REFERENCE, plan_points
    jobs = plan_points(cfg, tuple(cfg.dataset.subgroups), cfg.seeds[0])
    return len({p.key for pts in jobs.values() for p in pts} - {p.key for p in jobs[REFERENCE]})


def gemm_rate(n: int = 1536, repeats: int = 5) -> float:
    """This machine's float32 matrix-product rate (FLOP/s, best of ``repeats``): the bound a
    compute-bound evaluation cannot beat."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def point_costs(points: int) -> dict:
    """One grid point of `quick` (its margins on validation and test, in the run's evaluation
    precision; the merge before them takes milliseconds on MiniLM), uncompiled and compiled,
    and how close the uncompiled one is to this machine's matrix-product bound: its FLOPs (counted
    by torch's FlopCounterMode) over the rate of one large float32 product, measured alongside
    (the bound of an fp32 evaluation; where bf16 is native the run evaluates in bf16, faster), and
    what that bound makes of the whole grid (``grid_floor_min``)."""
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from precompute import load_profile, validate_study
    from taskfair import load_classifier, predict_margins
    from taskfair.models.inference import compiled_for_inference, encode_inputs
    cfg = load_profile("quick", {})
    _, splits = validate_study(cfg)
    sp = splits[cfg.seeds[0]]
    model, tok = load_classifier(cfg.model, head_seed=cfg.seeds[0])
    enc = {s: encode_inputs(tok, getattr(sp, s).texts, max_length=cfg.train.max_length) for s in ("val", "test")}

    def point(m) -> np.ndarray:
        return np.concatenate([predict_margins(m, tok, enc[s], batch_size=cfg.eval.batch_size,
                                               precision=cfg.eval.precision) for s in enc])

    with FlopCounterMode(display=False) as counter:
        point(model)
    flops = counter.get_total_flops()
    t = time.perf_counter()
    compiled = compiled_for_inference(model, tok, sp.val.texts[:8], max_length=cfg.train.max_length)
    compile_s = time.perf_counter() - t
    eager, comp, rates, diff = [], [], [], 0.0
    for _ in range(points):  # interleaved, so a noisy neighbour affects all alike
        rates.append(gemm_rate())
        t = time.perf_counter()
        a = point(model)
        eager.append(time.perf_counter() - t)
        t = time.perf_counter()
        b = point(compiled)
        comp.append(time.perf_counter() - t)
        diff = max(diff, float(np.abs(a - b).max()))
    rate = float(np.median(rates))
    from taskfair.models.inference import native_bf16
    n_grid = grid_points(cfg)
    return {"evaluated_in": "bf16" if cfg.eval.precision == "bf16" and native_bf16("cpu") else "fp32",
            "grid_points": n_grid, "grid_floor_min": n_grid * flops / rate / 60,
            "eager_point_s": float(np.median(eager)), "compiled_point_s": float(np.median(comp)),
            "compile_s": compile_s, "max_margin_difference": diff, "points_timed": points,
            "threads": torch.get_num_threads(), "examples_per_point": int(len(sp.val) + len(sp.test)),
            "point_gflop": flops / 1e9, "gemm_gflops": rate / 1e9,
            "point_bound_s": flops / rate, "eager_over_bound": float(np.median(eager)) / (flops / rate)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the artifact root")
    ap.add_argument("--costs-only", action="store_true",
                    help="measure one grid point against the matrix-product bound, without the whole run")
    args = ap.parse_args()
    if args.costs_only:
        costs = point_costs(args.points)
        print(json.dumps(costs, indent=2))
        save("demo-point", costs)
        return
    root = Path(tempfile.mkdtemp(prefix="taskfair-demo-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TASKFAIR_ARTIFACTS": str(root), "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    seen: dict[str, float] = {}
    with served(cwd=ROOT, env=env, wait=False) as (_, port):   # polled below, beside the precompute
        pre = subprocess.Popen([sys.executable, "-m", "precompute", "--config", "quick", "--no-progress",
                                "--output-root", str(root)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        while pre.poll() is None:
            now = time.perf_counter() - t0
            if "dashboard up" not in seen and healthy(port):
                seen["dashboard up"] = now
            for page, ok in _ready(root, "quick").items():
                if ok and page not in seen:
                    seen[page] = now
                    print(f"{now:7.1f} s  {page}", flush=True)
            time.sleep(2)
        err = pre.stderr.read()
        if pre.returncode != 0:
            raise SystemExit(f"the precompute failed ({pre.returncode}):\n{err[-3000:]}")
        seen["whole run"] = time.perf_counter() - t0
    timings = json.loads((root / "quick" / "timings.json").read_text())
    from precompute import load_profile
    n_points = grid_points(load_profile("quick", {}))
    costs = point_costs(args.points)
    res = {"seconds_from_start": seen, "stages_s": timings, "grid_points": n_points,
           "evaluate_s_per_point": timings.get("evaluate", float("nan")) / max(n_points, 1),
           "point_costs": costs, "artifact_root": str(root)}
    print(json.dumps(res, indent=2))
    save("demo", res)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
