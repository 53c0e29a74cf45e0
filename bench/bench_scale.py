"""Merging and exporting a model larger than the memory we allow it: a synthetic sharded model
(default 1.07B parameters, bf16) with K=8 task vectors, merged tensor by tensor by
``taskfair.stream.stream_merge`` against loading everything at once. Peak RSS of each in its own
process, time, and throughput against the copy bandwidth measured in the same run.

    python bench/bench_scale.py [work_dir] [n_tensors] [k]

The baseline loads K+1 full checkpoints, so it runs on a quarter of the model (its peak grows
linearly; at full size it would not fit beside the page cache on a 24 GiB machine)."""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from common import save

ROWS, COLS = 4096, 4096          # 16.8M parameters per tensor
DTYPE = torch.bfloat16


def make(work: Path, n_tensors: int, k: int) -> None:
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    per_shard = 8
    base = work / "base"
    base.mkdir(parents=True)
    for s in range(0, n_tensors, per_shard):
        save_file({f"layers.{i}.weight": torch.randn(ROWS, COLS, generator=g).to(DTYPE)
                   for i in range(s, min(s + per_shard, n_tensors))},
                  str(base / f"model-{s // per_shard:05d}.safetensors"))
    for j in range(k):
        vec = work / f"tv{j}"
        vec.mkdir()
        for s in range(0, n_tensors, per_shard):
            save_file({f"layers.{i}.weight": (torch.randn(ROWS, COLS, generator=g) * 1e-2).to(DTYPE)
                       for i in range(s, min(s + per_shard, n_tensors))},
                      str(vec / f"tv-{s // per_shard:05d}.safetensors"))


def child(mode: str, work: Path, k: int) -> None:
    """Runs in its own process; prints time and peak RSS as JSON."""
    from taskfair.vectors.streaming import stream_merge
    coefs = [0.1 * (j + 1) for j in range(k)]
    out = work / f"out-{mode}"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    if mode == "stream":
        stream_merge(work / "base", [work / f"tv{j}" for j in range(k)], coefs, out, shard_bytes=256 * 2**20)
    else:
        from safetensors.torch import load_file, save_file
        def load_all(folder):
            d = {}
            for f in sorted(folder.glob("*.safetensors")):
                d.update(load_file(str(f)))
            return d
        base = load_all(work / "base")
        vectors = [load_all(work / f"tv{j}") for j in range(k)]
        merged = {n: (v.float() + sum(c * vec[n].float() for c, vec in zip(coefs, vectors))).to(v.dtype)
                  for n, v in base.items()}
        out.mkdir()
        save_file(merged, str(out / "model.safetensors"))
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": secs, "peak_rss_bytes": peak}))


def run_child(mode: str, work: Path, k: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(work), str(k)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def io_bound(work: Path, k: int) -> dict:
    """The disk's share of the bound: read every input byte once with large sequential reads
    (as fast as the storage or the page cache allows), and write and fsync as many output bytes."""
    files = sorted((work / "base").glob("*.safetensors"))
    for j in range(k):
        files += sorted((work / f"tv{j}").glob("*.safetensors"))
    buf = bytearray(64 * 2**20)
    view = memoryview(buf)
    t = time.perf_counter()
    read = 0
    for f in files:
        with open(f, "rb", buffering=0) as h:
            while n := h.readinto(view):
                read += n
    t_read = time.perf_counter() - t
    out_bytes = sum(f.stat().st_size for f in sorted((work / "base").glob("*.safetensors")))
    target = work / "io-probe.bin"
    t = time.perf_counter()
    with open(target, "wb", buffering=0) as h:
        left = out_bytes
        while left > 0:
            left -= h.write(view[: min(left, len(buf))])
        os.fsync(h.fileno())
    t_write = time.perf_counter() - t
    target.unlink()
    return {"read_bytes": read, "read_seconds": t_read, "read_GBps": read / t_read / 1e9,
            "write_bytes": out_bytes, "write_seconds": t_write, "write_GBps": out_bytes / t_write / 1e9,
            "seconds": t_read + t_write}


def copy_bandwidth() -> float:
    src = torch.randn(64 * 2**20)  # 256 MiB
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t)
    return 2 * src.numel() * 4 / best


def main(work: str = "/tmp/taskfair-scale", n_tensors: int = 64, k: int = 8) -> None:
    work, n_tensors, k = Path(work), int(n_tensors), int(k)
    shutil.rmtree(work, ignore_errors=True)
    small = work / "quarter"
    t = time.perf_counter()
    make(work, n_tensors, k)
    make(small, n_tensors // 4, k)
    print(f"made the synthetic checkpoints in {time.perf_counter() - t:.0f} s")
    params = n_tensors * ROWS * COLS
    bytes_moved = (k + 2) * params * 2   # read base + K vectors, write the result (bf16)
    io = io_bound(work, k)
    stream = run_child("stream", work, k)
    stream_small = run_child("stream", small, k)
    stream_small_warm = run_child("stream", small, k)   # its inputs are now in the page cache
    naive_small = run_child("naive", small, k)
    bw = copy_bandwidth()
    small_bytes = bytes_moved // 4
    res = {
        "params": params, "k": k, "dtype": "bfloat16", "bytes_moved": bytes_moved,
        "stream": stream, "stream_quarter": stream_small, "load_all_quarter": naive_small,
        "stream_peak_rss_GB": stream["peak_rss_bytes"] / 1e9,
        "load_all_quarter_peak_rss_GB": naive_small["peak_rss_bytes"] / 1e9,
        "load_all_full_peak_rss_GB_extrapolated": 4 * naive_small["peak_rss_bytes"] / 1e9,
        "copy_bandwidth_GBps": bw / 1e9,
        "stream_GBps": bytes_moved / stream["seconds"] / 1e9,
        "stream_vs_copy_bound": (bytes_moved / bw) / stream["seconds"],
        "io_bound": io,
        "stream_vs_io_bound": io["seconds"] / stream["seconds"],
        "stream_quarter_warm": stream_small_warm,
        "stream_quarter_warm_GBps": small_bytes / stream_small_warm["seconds"] / 1e9,
        "stream_quarter_warm_vs_copy_bound": (small_bytes / bw) / stream_small_warm["seconds"],
    }
    print(json.dumps(res, indent=2))
    save("scale", res)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main(*sys.argv[1:])
