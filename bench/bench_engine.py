"""Peak memory and time of one merge ``θ0 + Σ λ_k τ_k`` (as exact evaluation, export and recreate
do it) through the merge engine's streamed path against the in-RAM flat path that every consumer
used before, on a BERT-base-sized model (110M parameters, random weights from a config) with
K = 2 and K = 6 stored task vectors. Each measurement runs in its own process (peak RSS is per
process); figures are in units of one float32 model.

    python bench_engine.py [hidden layers]   (default 768 12: BERT-base)
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import save

HERE = Path(__file__).resolve().parent


def _model(hidden: int, layers: int):
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    cfg = BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=hidden // 64,
                     intermediate_size=4 * hidden, num_labels=2)
    return BertForSequenceClassification(cfg).eval()


def _peak_rss() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(mode: str, folder: str, k: int, hidden: int, layers: int) -> None:
    """One measurement, in a fresh process: prints JSON with peak RSS and seconds."""
    import copy

    from taskfair import FlatMerger, load_task_vector
    from taskfair.vectors.engine import MergeEngine

    import torch  # noqa: F401  (imported before the baseline reading)
    rss_start = _peak_rss()
    base = _model(hidden, layers)
    paths = [Path(folder) / f"tv{i}.safetensors" for i in range(k)]
    lams = [0.3 + 0.1 * i for i in range(k)]
    t = time.perf_counter()
    if mode == "stream":
        model = copy.deepcopy(base)
        with MergeEngine(model, paths, mode="stream") as engine:
            engine.set(lams)
    elif mode == "flat":          # the path before the engine: load every vector, flatten, merge
        model = copy.deepcopy(base)
        FlatMerger(model, [load_task_vector(p) for p in paths]).set(lams)
    secs = time.perf_counter() - t
    print(json.dumps({"rss_start": rss_start, "rss_peak": _peak_rss(),
                      "seconds": secs}))


def main(hidden: str = "768", layers: str = "12") -> None:
    import torch

    from taskfair import TaskVector, model_weights, save_task_vector

    hidden, layers = int(hidden), int(layers)
    base = _model(hidden, layers)
    weights = model_weights(base)
    model_bytes = sum(v.numel() for v in weights.values()) * 4
    out = {"parameters": model_bytes // 4, "model_MB": model_bytes / 2**20, "runs": {}}
    with tempfile.TemporaryDirectory() as folder:
        gen = torch.Generator().manual_seed(1)
        for i in range(6):
            tv = TaskVector({n: torch.randn(w.shape, generator=gen) * 1e-3 for n, w in weights.items()}, name=f"tv{i}")
            save_task_vector(Path(folder) / f"tv{i}.safetensors", tv)
            del tv
        del base, weights
        for k in (2, 6):
            for mode in ("flat", "stream"):
                res = subprocess.run([sys.executable, __file__, "--child", mode, folder, str(k), str(hidden),
                                      str(layers)], cwd=HERE, capture_output=True, text=True, check=True)
                r = json.loads(res.stdout.strip().splitlines()[-1])
                models = (r["rss_peak"] - r["rss_start"]) / model_bytes
                out["runs"][f"{mode} K={k}"] = {
                    "peak_rss_MB": r["rss_peak"] / 2**20, "after_imports_MB": r["rss_start"] / 2**20,
                    "peak_in_models": models, "seconds": r["seconds"]}
                print(f"{mode:>6} K={k}: peak {r['rss_peak'] / 2**20:7.0f} MB = {models:5.2f} float32 models "
                      f"above the process after imports (θ0 and the merged copy included), {r['seconds']:.2f} s")
    save("engine", out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        main(*sys.argv[1:])
