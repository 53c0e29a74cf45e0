"""Wall time per stage of the `quick` profile on this machine: runs it into a fresh artifact
root (about 20 minutes on 2 cores) unless a finished run is given.

    python bench/bench_precompute.py [existing_artifact_root]
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import save

ROOT = Path(__file__).resolve().parent.parent


def main(existing: str | None = None) -> None:
    if existing:
        root = Path(existing)
        wall = None
    else:
        root = Path(tempfile.mkdtemp(prefix="taskfair-bench-"))
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "precompute", "--config", "quick", "--no-progress",
                        "--output-root", str(root)], cwd=ROOT, check=True)
        wall = time.perf_counter() - t
    timings = json.loads((root / "quick" / "timings.json").read_text())
    summary = json.loads((root / "quick" / "summary.json").read_text())
    res = {"stages_s": timings, "wall_s": wall, "artifact_root": str(root),
           "majority_baseline_test": summary["majority_baseline_test"]}
    import pandas as pd
    head = pd.read_parquet(root / "quick" / "headline.parquet")
    res["headline"] = head[["method", "accuracy", "macro_accuracy", "worst_dpd", "worst_eod"]].to_dict("records")
    print(json.dumps(res, indent=2))
    save("precompute", res)


if __name__ == "__main__":
    main(*sys.argv[1:])
