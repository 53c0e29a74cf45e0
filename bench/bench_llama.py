"""The paper's scale on one host: a synthetic Llama-shaped classifier of at least 1B parameters
(random weights from a config, bf16, sharded) with K=6 stored bf16 task vectors in a real run
folder, and the three consumers of the merge engine, each in its own process for its peak RSS:

(a) export of a remix (θ0 in bf16, merged tensor by tensor, written as 2GB shards, every tensor
    checked back), against the disk bound measured in the same run (reading θ0 and the K
    vectors, writing one model);
(b) exact evaluation of a remix on 256 texts (θ0 in float32: bf16 is emulated on this CPU);
(c) the pipeline's λ grid: 10 points through ``evaluate_grid``'s engine (reuse, auto mode) on
    32 texts each;
and the in-RAM flat path on a small model of the same shape, for the baseline in model units.

    python bench/bench_llama.py [work_dir] [--layers 20]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from common import save

K = 6
TEXTS = ["people like them are always a problem here", "they are kind and helpful neighbours",
         "i do not trust those people at all", "my friends from that group are lovely"]


def _config(layers: int):
    from transformers import LlamaConfig
    return LlamaConfig(vocab_size=30522, hidden_size=2048, intermediate_size=5632, num_hidden_layers=layers,
                       num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=128,
                       num_labels=2, pad_token_id=0, tie_word_embeddings=False)


class _Finetuned(Mapping):
    """θ0 + small seeded noise, one tensor at a time (a stand-in for a fine-tuned model)."""

    def __init__(self, theta0, seed: int):
        self.theta0, self.seed = theta0, seed

    def __getitem__(self, name):
        g = torch.Generator().manual_seed(self.seed * 100_003 + sorted(self.theta0).index(name))
        t = self.theta0[name]
        return t + (torch.randn(t.shape, generator=g) * 1e-3).to(t.dtype)

    def __iter__(self):
        return iter(self.theta0)

    def __len__(self):
        return len(self.theta0)


def make(work: Path, layers: int) -> dict:
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    from taskfair import ArtifactStore, model_weights, resolve_model, weights_sha256
    folder = work / "llama"
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(_config(layers)).to(torch.bfloat16)
    model.save_pretrained(folder, max_shard_size="1GB")
    AutoTokenizer.from_pretrained(resolve_model("minilm").location).save_pretrained(folder)
    theta0 = model_weights(model)
    params = sum(t.numel() for t in theta0.values())
    run = ArtifactStore(work / "artifacts").create("llama", {"seeds": [13], "model": str(folder),
                                                            "model_dtype": "bfloat16"})
    sha = weights_sha256(theta0)
    run.save_base(13, {"sha256": sha, "model": str(folder), "head_seed": 13})
    run.save_theta0(13, theta0, base_sha256=sha)  # as a run whose λ grid streamed stores it
    for j in range(K):
        run.save_vector_between(13, f"g{j}", theta0, _Finetuned(theta0, j), base_sha256=sha,
                                base_model=str(folder))
    return {"params": params, "bf16_bytes": params * 2, "fp32_bytes": params * 4}


class _Sampler:
    """Peaks of this process's resident memory, split into anonymous memory (what the process
    allocated) and file-backed pages (mapped files, e.g. a checkpoint transformers reads through
    mmap: counted in RSS, but reclaimable page cache), sampled every 20 ms."""

    def __init__(self) -> None:
        import threading
        self.peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self) -> dict:
        out = {}
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in self.peak:
                    out[key] = int(line.split()[1]) * 1024
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for k, v in self._read().items():
                self.peak[k] = max(self.peak[k], v)

    def phase(self) -> dict:
        """The peaks so far, and start measuring afresh."""
        out = {"sampled_peak_rss_bytes": self.peak["VmRSS"], "peak_anon_bytes": self.peak["RssAnon"],
               "peak_file_backed_bytes": self.peak["RssFile"]}
        self.peak = dict.fromkeys(self.peak, 0)
        return out

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"sampled_peak_rss_bytes": self.peak["VmRSS"], "peak_anon_bytes": self.peak["RssAnon"],
                "peak_file_backed_bytes": self.peak["RssFile"]}


def child(task: str, work: Path) -> dict:
    sampler = _Sampler()
    from taskfair import ArtifactStore, MergeEngine, model_weights, predict_margins, weights_sha256
    from taskfair.steering.exact import load_theta0
    run = ArtifactStore(work / "artifacts").open("llama", verify=False)
    paths = [run.task_vector_path(13, f"g{j}") for j in range(K)]
    coefs = [0.1 * (j + 1) for j in range(K)]
    texts = (TEXTS * 64)[:256]
    t = time.perf_counter()
    out: dict = {}
    if task == "export":
        from taskfair.publishing.export import export_model
        model, tok = load_theta0(run, 13)  # θ0 as every consumer rebuilds it (here: the run's stored copy)
        out["load"] = sampler.phase()
        with MergeEngine(model, paths) as eng:
            eng.set(coefs)
        out["merge"] = sampler.phase()
        target = work / "export"
        shutil.rmtree(target, ignore_errors=True)
        export_model(model, tok, target, check_texts=texts[:4], max_length=16)
        out["written_bytes"] = sum(f.stat().st_size for f in target.glob("*.safetensors"))
    elif task == "exact":
        model, tok = load_theta0(run, 13, dtype=torch.float32)
        out["load"] = sampler.phase()
        with MergeEngine(model, paths) as eng:
            eng.set(coefs)
        out["merge"] = sampler.phase()
        m = predict_margins(model, tok, texts, batch_size=32, max_length=16)
        out["positive_share"] = float((m > 0).mean())
    elif task in ("grid", "grid-flat"):
        # as evaluate_grid does: flat keeps θ0 and a copy of it (the model the points go into);
        # stream stores θ0 once, then merges into the loaded model, reading θ0 back per tensor
        import copy

        from taskfair.vectors import TensorSource, choose_mode
        loaded, tok = load_theta0(run, 13, dtype=torch.float32)  # θ0 in memory, as after training
        out["load"] = {"seconds": time.perf_counter() - t, **sampler.phase()}
        theta0 = model_weights(loaded)
        mode = choose_mode(sum(t.numel() for t in theta0.values()), K, "cpu", reuse=True)
        mode = mode if task == "grid" else "flat"
        if mode == "flat":
            model, base = copy.deepcopy(loaded), theta0
        else:
            s = time.perf_counter()
            # (the same θ0, upcast, stored under a seed of its own: seed 13's copy stays bf16)
            run.save_base(14, {"sha256": weights_sha256(theta0)})
            run.save_theta0(14, theta0, base_sha256=run.base_sha256(14))
            out["save_theta0_s"] = time.perf_counter() - s
            model, base = loaded, TensorSource(run.theta0_path(14) or "")
            theta0 = None
        eng = MergeEngine(model, paths, base=base, reuse=True, mode=mode)
        out["mode"] = eng.mode
        for i in range(10):
            lam = 0.1 * (i + 1)
            eng.set([lam] * K)
            predict_margins(model, tok, texts[:32], batch_size=32, max_length=16)
        eng.close()
        out["grid_phase"] = sampler.phase()
    out["seconds"] = time.perf_counter() - t
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.update(sampler.stop())
    return out


def run_child(task: str, work: Path, env: dict | None = None) -> dict:
    evict(work)
    proc = subprocess.run([sys.executable, __file__, "--child", task, str(work)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode:
        raise SystemExit(f"{task} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def evict(work: Path) -> None:
    """Drop the work folder's files from the page cache (written back first), so the disk bound
    and every measurement read them cold, the same way."""
    for f in work.rglob("*"):
        if f.is_file() and not f.is_symlink():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def disk_bound(work: Path) -> dict:
    """Sequential read of θ0's shards and the K vectors, and a write of one bf16 model with
    fsync, timed in this run: what any export must at least do."""
    run = work / "artifacts" / "llama" / "seed13"
    files = sorted(run.glob("theta0*")) + sorted(run.glob("theta0*/*.safetensors")) + \
        sorted((run / "tv").rglob("*.safetensors"))
    files = [f for f in files if f.is_file()]
    t = time.perf_counter()
    read = 0
    buf = bytearray(64 << 20)
    for f in files:
        with open(f, "rb", buffering=0) as h:
            while (n := h.readinto(buf)):
                read += n
    read_s = time.perf_counter() - t
    size = sum(f.stat().st_size for f in (work / "llama").glob("*.safetensors"))
    t = time.perf_counter()
    with open(work / "disk-probe", "wb", buffering=0) as h:
        left = size
        while left > 0:
            left -= h.write(memoryview(buf)[:min(left, len(buf))])
        os.fsync(h.fileno())
    write_s = time.perf_counter() - t
    (work / "disk-probe").unlink()
    return {"read_bytes": read, "read_s": read_s, "write_bytes": size, "write_s": write_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", nargs="?", default="/tmp/taskfair-bench-llama")
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--baseline-layers", type=int, default=2,
                    help="layers of the small model the in-RAM flat path runs on (it holds ~16 float32 copies)")
    ap.add_argument("--reuse", action="store_true", help="reuse the model and run made by an earlier call")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (for --reuse)")
    ap.add_argument("--tasks", default="export,exact,grid,flat",
                    help="which measurements to run (default all: export,exact,grid,flat)")
    args = ap.parse_args()
    work = Path(args.work)
    if args.reuse and (work / "size.json").is_file():
        size = json.loads((work / "size.json").read_text())
        for leftover in ("export", "quarter"):
            shutil.rmtree(work / leftover, ignore_errors=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        t = time.perf_counter()
        size = make(work, args.layers)
        (work / "size.json").write_text(json.dumps(size))
        print(f"made a {size['params'] / 1e9:.2f}B-parameter model and {K} vectors in {time.perf_counter() - t:.0f} s")
    tasks = set(args.tasks.split(","))
    res = {"model": size, "k": K}
    previous = Path(__file__).parent / "results" / "llama.json"
    if tasks != {"export", "exact", "grid", "flat"} and previous.is_file():  # a partial rerun updates the rest
        res = {**json.loads(previous.read_text()), **res, "rerun": sorted(tasks)}
    evict(work)
    res["disk"] = disk_bound(work)
    print("disk", res["disk"])
    if "export" in tasks:
        # the export's reload through transformers needs two models; on a host where only one fits
        # the budget it checks every tensor byte for byte instead (the setting measured here)
        res["export"] = run_child("export", work, {"TASKFAIR_MEMORY_BUDGET": "4G"})
        d = res["disk"]
        bound = d["read_s"] + d["write_s"]
        res["export"]["disk_bound_s"] = bound
        res["export"]["share_of_disk_bound"] = bound / res["export"]["seconds"]
        print("export", res["export"])
    if "exact" in tasks:
        res["exact"] = run_child("exact", work)
        print("exact", res["exact"])
    if "grid" in tasks:
        res["grid"] = run_child("grid", work)
        print("grid", res["grid"])
    if "flat" in tasks:
        # the in-RAM flat path on a small model of the same shape: it loads each vector as float32
        # and stacks them, about 2K + 4 float32 copies at its peak (it does not fit at full size here)
        small = work / "quarter"
        small.mkdir()
        qsize = make(small, args.baseline_layers)
        res["grid_flat_small"] = {**run_child("grid-flat", small), "model": qsize}
        print("grid flat (small model)", res["grid_flat_small"])
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    save("llama", res)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]))))
    else:
        main()
