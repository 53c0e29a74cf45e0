"""Per-point cost on a GPU at the paper's scale, for the projections in BENCHMARKS.md: the 1.09B
Llama-shaped classifier of ``bench_llama.py`` (random weights, bf16) on the GPU, K=6 bf16 task
vectors in safetensors files, and per λ point (a) the merge engine's streamed merge into the
model on the GPU (read from the page cache, computed on the GPU) and (b) a forward pass over
256 texts of 64 tokens. Prints and writes JSON.

    python bench/gpu_scale.py OUT_DIR [--work /tmp/gpu-scale]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

K = 6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/gpu-scale"))
    ap.add_argument("--layers", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("needs CUDA", file=sys.stderr)
        return 2
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from taskfair import MergeEngine, model_weights
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    cfg = LlamaConfig(vocab_size=30522, hidden_size=2048, intermediate_size=5632, num_hidden_layers=args.layers,
                      num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=128, num_labels=2,
                      pad_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForSequenceClassification(cfg).to(torch.bfloat16).eval()
    weights = model_weights(model)
    params = sum(t.numel() for t in weights.values())
    t = time.perf_counter()
    paths = []
    for j in range(K):
        g = torch.Generator(device="cuda").manual_seed(j)
        tv = {n: (torch.randn(w.shape, generator=g, device="cuda") * 1e-3).to(torch.bfloat16).cpu()
              for n, w in weights.items()}
        path = args.work / f"tv{j}.safetensors"
        save_file(tv, str(path))
        paths.append(path)
        del tv
    make_s = time.perf_counter() - t
    theta0 = {n: w.detach().cpu() for n, w in weights.items()}
    res = {"gpu": torch.cuda.get_device_name(0), "params": params, "k": K, "make_s": make_s}

    merged = {}
    for mode in ("auto", "stream"):
        torch.cuda.synchronize()
        t = time.perf_counter()
        eng = MergeEngine(model, paths, base=theta0, reuse=True, mode=mode)
        torch.cuda.synchronize()
        setup = time.perf_counter() - t
        times = []
        for i in range(4):
            torch.cuda.synchronize()
            t = time.perf_counter()
            eng.set([0.1 * (i + 1)] * K)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        merged[mode] = {n: w.detach().float().sum().item() for n, w in list(model_weights(model).items())[:4]}
        res[f"{mode}_mode"] = eng.mode
        res[f"{mode}_setup_s"] = setup
        res[f"{mode}_merge_s_per_point"] = sorted(times)[len(times) // 2]
        res[f"{mode}_gpu_peak_gb"] = torch.cuda.max_memory_allocated() / 2**30
        eng.close()
        del eng
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    res["modes_agree"] = merged["auto"] == merged["stream"]
    res["stream_read_bytes_per_point"] = (K * 2 + 2) * params   # K bf16 vectors + θ0 from host

    ids = torch.randint(5, 30000, (256, 64), device="cuda")
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        for _ in range(2):
            model(input_ids=ids[:32], attention_mask=mask[:32])
        torch.cuda.synchronize()
        t = time.perf_counter()
        for s in range(0, 256, 32):
            model(input_ids=ids[s:s + 32], attention_mask=mask[s:s + 32])
        torch.cuda.synchronize()
        fwd = time.perf_counter() - t
    res["forward_s_256x64"] = fwd
    res["forward_tflops"] = 2 * params * 256 * 64 / fwd / 1e12
    print(json.dumps(res, indent=2))
    (args.out / "gpu_scale.json").write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
