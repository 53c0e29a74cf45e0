"""Exact evaluation of one remix on the embedded default: merge plus forward over the test split,
fp32 against bf16, and how often their labels agree."""
from __future__ import annotations

import sys
import time

import numpy as np

from common import save


def main(root: str = "artifacts", run_id: str = "quick") -> None:
    from taskfair import predict_margins
    from taskfair.steering.exact import load_theta0, merged_model
    from taskfair.store.results import load_results
    from taskfair.store import ArtifactStore

    run = ArtifactStore(root).open(run_id)
    res = load_results(root, run_id)
    seed = next(iter(res.seeds))
    base = load_theta0(run, seed)
    texts = res.data.text.to_numpy()[res.seeds[seed].index["test"]].tolist()
    lams = [0.3] * len(res.groups)
    out = {}
    for precision in ("fp32", "bf16"):
        times, margins = [], None
        for _ in range(3):
            t = time.perf_counter()
            m = merged_model(run, seed, lams, base)
            t_merge = time.perf_counter() - t
            margins = predict_margins(m, base[1], texts, precision=precision, batch_size=64, max_length=64)
            times.append((t_merge, time.perf_counter() - t))
        out[precision] = {"merge_s": float(np.median([a for a, _ in times])),
                          "merge_plus_forward_s": float(np.median([b for _, b in times])),
                          "texts": len(texts), "margins": margins}
    agree = float(np.mean((out["fp32"]["margins"] > 0) == (out["bf16"]["margins"] > 0)))
    res_ = {p: {k: v for k, v in d.items() if k != "margins"} for p, d in out.items()}
    res_["bf16_speedup"] = out["fp32"]["merge_plus_forward_s"] / out["bf16"]["merge_plus_forward_s"]
    res_["label_agreement_fp32_bf16"] = agree
    res_["max_abs_margin_diff"] = float(np.abs(out["fp32"]["margins"] - out["bf16"]["margins"]).max())
    print(res_)
    save("exact", res_)


if __name__ == "__main__":
    main(*sys.argv[1:])
