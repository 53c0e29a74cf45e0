"""``quick`` (MiniLM on RedditBias, a row-capped slice so it fits a benchmark) with 2 CPU
processes (torchrun, gloo) against 1: wall time of each stage and whether the artifacts agree.

    python bench/bench_distributed.py [work_dir] [max_rows]

On a 2-core host two processes share the same two cores, so this measures the overhead of the
process group, not a speed-up. MiniLM has dropout, and process 1 draws its own masks, so the task
vectors of the two runs differ by dropout noise (the CPU test in tests/test_distributed.py uses a
model without dropout and checks equality to 1e-5); the evaluation points are dealt out across
the processes, so each margin file is checked against the one-process run's.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import save

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], root: Path, rows: int) -> dict:
    args = ["-m", "precompute", "--config", "quick", "--no-progress", "--set", f"output_root={root}",
            "--set", f"dataset.max_rows={rows}", "--set", "eval.precision=fp32", "--set", "train.min_steps=0"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    proc = subprocess.run(cmd + args, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return {"wall_s": wall, "stages_s": json.loads((root / "quick" / "timings.json").read_text()),
            "summaries_printed": proc.stdout.count("== summary ==")}


def compare(a: Path, b: Path) -> dict:
    from safetensors.torch import load_file
    out = {"vectors_max_abs_diff": {}, "margins_max_abs_diff": 0.0}
    for f in sorted((a / "seed13" / "tv").glob("*.safetensors")):
        x, y = load_file(f), load_file(b / "seed13" / "tv" / f.name)
        out["vectors_max_abs_diff"][f.stem] = max(float((x[k] - y[k]).abs().max()) for k in x)
    for f in sorted((a / "seed13" / "preds").glob("*.safetensors")):
        x, y = load_file(f), load_file(b / "seed13" / "preds" / f.name)
        for s in ("val", "test"):
            out["margins_max_abs_diff"] = max(out["margins_max_abs_diff"], float((x[s] - y[s]).abs().max()))
    import pandas as pd
    key = ["seed", "split", "family", "target", "lam", "group", "metric"]
    ma = pd.read_parquet(a / "metrics.parquet").sort_values(key).reset_index(drop=True)
    mb = pd.read_parquet(b / "metrics.parquet").sort_values(key).reset_index(drop=True)
    both = ma[key].equals(mb[key])
    rates = ~ma.metric.isin(["n", "positives", "degenerate"]).to_numpy()  # counts and 0/1 flags apart
    diff = np.abs(ma["value"].to_numpy(float) - mb["value"].to_numpy(float))[rates] if both else np.array([np.nan])
    if both:
        flags = (ma.metric == "degenerate").to_numpy()
        out["degenerate_flags_differing"] = int((ma["value"].to_numpy()[flags] != mb["value"].to_numpy()[flags]).sum())
    out["metrics_same_rows"] = bool(both)
    out["metrics_max_abs_diff"] = float(np.nanmax(diff))
    out["splits_identical"] = (a / "seed13" / "splits.json").read_text() == (b / "seed13" / "splits.json").read_text()
    return out


def main() -> None:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/taskfair-bench-dist")
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 800
    shutil.rmtree(work, ignore_errors=True)
    one = run([sys.executable], work / "one", rows)
    print("1 process", one)
    two = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
              work / "two", rows)
    print("2 processes", two)
    cmp = compare(work / "one" / "quick", work / "two" / "quick")
    print(json.dumps(cmp, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    save("distributed", {"max_rows": rows, "one_process": one, "two_processes": two, "agreement": cmp})


if __name__ == "__main__":
    main()
