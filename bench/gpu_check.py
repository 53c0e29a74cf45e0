"""End-to-end check of a GPU host, with timings: precompute, exact evaluation and export on the
pico setting (tiny BERT, 360 real rows) and on ``quick`` (MiniLM, RedditBias).

    python bench/gpu_check.py OUT_DIR [--work DIR] [--quick-timeout 420] [--skip-quick]

Writes ``OUT_DIR/gpu_check.json`` after every stage (so a run cut short still reports what it
measured) and prints each figure. Needs CUDA; it refuses to run without it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PICO = {
    "model": "tiny-bert", "dataset.subgroups": "[female,muslims,black]", "dataset.max_rows": 360,
    "train.epochs": 6, "train.learning_rate": 3.0e-3, "train.max_length": 32, "lora.learning_rate": 3.0e-3,
    "grids.uniform": "[0.0,0.5,1.0]", "grids.inject": "[0.0,0.5,1.0]", "grids.axis": "[0.0,0.5,1.0]",
    "grids.probes": 6, "train.min_steps": 0,
}


def _precompute(name: str, root: Path, sets: dict, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "precompute", "--config", "quick", "--no-progress",
           "--set", f"name={name}", "--set", f"output_root={root}"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    wall = time.perf_counter() - t
    print(proc.stdout[-2500:])
    if proc.returncode:
        print(proc.stderr[-4000:], file=sys.stderr)
        return {"ok": False, "wall_s": wall, "error": proc.stderr[-1500:]}
    stages = json.loads((root / name / "timings.json").read_text())
    return {"ok": True, "wall_s": wall, "stages_s": stages}


def _steer(root: Path, name: str, spec: str, out: Path) -> dict:
    import torch

    from taskfair import load_results
    from taskfair.publishing.export import export_configuration
    from taskfair.publishing.provenance import recreate
    from taskfair.steering.exact import exact_metrics

    res = load_results(root, name)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    table = exact_metrics(res, spec, splits=("test",))
    exact_s = time.perf_counter() - t
    acc = table[(table["group"] == "(all)") & (table["metric"] == "accuracy")]["value"].mean() \
        if "group" in table else float("nan")
    t = time.perf_counter()
    exported = export_configuration(res, spec, out / f"{name}-export", n_boot=0)
    export_s = time.perf_counter() - t
    t = time.perf_counter()
    _, _, _, same = recreate(exported.path / "provenance.json", artifact_root=root)
    recreate_s = time.perf_counter() - t
    return {"config": spec, "exact_eval_s": exact_s, "exact_test_accuracy": float(acc), "export_s": export_s,
            "recreate_s": recreate_s, "recreate_identical": bool(same),
            "gpu_peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--quick-timeout", type=float, default=420.0)
    ap.add_argument("--work", type=Path, help="where runs and exports go (default: OUT_DIR)")
    ap.add_argument("--skip-quick", action="store_true")
    ap.add_argument("--allow-cpu", action="store_true", help="a dry run of the script on a CPU host")
    args = ap.parse_args()
    import torch
    if not torch.cuda.is_available() and not args.allow_cpu:
        print("no CUDA device: this check is for GPU hosts", file=sys.stderr)
        return 2
    import transformers
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "torch": torch.__version__,
              "transformers": transformers.__version__, "cuda": torch.version.cuda}
    path = args.out / "gpu_check.json"

    def save():
        path.write_text(json.dumps(report, indent=2, default=float))

    save()
    print(report)
    work = args.work or args.out
    root = work / "artifacts"
    report["pico_precompute"] = _precompute("pico", root, PICO, 600)
    save()
    if report["pico_precompute"]["ok"]:
        report["pico_steer"] = _steer(root, "pico", "remix:0.5,1.0,0.3", work)
        save()
        print("pico:", report["pico_steer"])
    if not args.skip_quick:
        report["quick_precompute"] = _precompute("quick", root, {}, args.quick_timeout)
        save()
        if report["quick_precompute"]["ok"]:
            report["quick_steer"] = _steer(root, "quick", "remix:0.4,0.4,0.4,0.4,0.4", work)
            save()
            print("quick:", report["quick_steer"])
            head = json.loads((root / "quick" / "summary.json").read_text())
            report["quick_summary"] = {k: head[k] for k in ("chosen_lambda", "worst_subgroup_fft") if k in head}
            save()
    print(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
