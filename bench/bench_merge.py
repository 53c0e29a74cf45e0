"""The flat [K, P] merge (one blocked pass; one add_ per slider move) against one addmv, a per-tensor state_dict
loop and a naive dict comprehension, and against the machine's copy bandwidth measured in the
same run. Goal: the flat merge moves bytes at >= 70% of copy bandwidth."""
from __future__ import annotations

import torch

from common import interleaved, save, timeit


def main(k: int = 8) -> None:
    from taskfair import TaskVector, model_weights
    from taskfair.vectors.merge import FlatMerger
    from taskfair.models import load_classifier

    model, _ = load_classifier("minilm", head_seed=0)
    base = {n: v.clone() for n, v in model_weights(model).items()}
    P = sum(v.numel() for v in base.values())
    g = torch.Generator().manual_seed(0)
    vectors = [TaskVector({n: torch.randn(v.shape, generator=g) * 1e-3 for n, v in base.items()},
                          name=f"g{i}") for i in range(k)]
    coefs = [0.1 * (i + 1) for i in range(k)]
    merger = FlatMerger(model, vectors)

    def flat():
        merger.set(coefs)

    def nudge():
        merger.nudge(3, coefs[3] + 0.05)
        merger.nudge(3, coefs[3])

    params = dict(model.named_parameters())

    def per_tensor():
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(base[n])
                for c, v in zip(coefs, vectors):
                    p.add_(v.deltas[n], alpha=c)

    def naive():
        return {n: base[n] + sum(c * v.deltas[n] for c, v in zip(coefs, vectors)) for n in base}

    src = torch.randn(P)
    dst = torch.empty(P)
    def addmv():
        torch.addmv(merger.base, merger.deltas.T, torch.as_tensor(coefs), out=merger.buffer)

    turns = interleaved({"copy": lambda: dst.copy_(src), "flat": flat, "addmv": addmv}, repeat=25)
    copy, t_flat, t_addmv = turns["copy"], turns["flat"], turns["addmv"]
    t_nudge = timeit(nudge, repeat=15, warmup=2)
    t_loop = timeit(per_tensor, repeat=7)
    t_naive = timeit(naive, repeat=5)
    # correctness: every path gives the same weights
    flat()
    ref = naive()
    max_diff = max(float((params[n].detach() - ref[n]).abs().max()) for n in ref)

    copy_bw = 2 * 4 * P / copy["median_s"]                # read + write
    merge_bytes = (k + 2) * 4 * P                          # read K vectors + base, write result
    flat_bw = merge_bytes / t_flat["median_s"]
    res = {
        "params": P, "k": k, "max_abs_diff_flat_vs_naive": max_diff,
        "copy_GBps": copy_bw / 1e9, "flat_merge_GBps": flat_bw / 1e9,
        "flat_fraction_of_copy_bw": flat_bw / copy_bw,
        "flat_merge_ms": t_flat["median_s"] * 1e3, "addmv_ms": t_addmv["median_s"] * 1e3,
        "addmv_fraction_of_copy_bw": merge_bytes / t_addmv["median_s"] / copy_bw,
        "per_tensor_loop_ms": t_loop["median_s"] * 1e3,
        "naive_dict_ms": t_naive["median_s"] * 1e3,
        "one_slider_move_ms": t_nudge["median_s"] * 1e3 / 2,
        "speedup_vs_loop": t_loop["median_s"] / t_flat["median_s"],
        "speedup_vs_naive": t_naive["median_s"] / t_flat["median_s"],
    }
    for key, v in res.items():
        print(f"{key:>30}: {v:.4g}" if isinstance(v, float) else f"{key:>30}: {v}")
    save("merge", res)


if __name__ == "__main__":
    main()
