"""Remix on the embedded default: server-side time from a slider move to updated metrics
(median and 95th percentile, whole page rerun in Streamlit's AppTest), and the estimate's error
against exact evaluation on random per-subgroup λ vectors in [0, 1].

    python bench/bench_remix.py [artifact_root] [run_id] [n_random]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from common import save

ROOT = Path(__file__).resolve().parent.parent


def slider_latency(root: str, run_id: str, moves: int = 40) -> dict:
    from streamlit.testing.v1 import AppTest
    os.environ["TASKFAIR_ARTIFACTS"] = root
    at = AppTest.from_file(str(ROOT / "pages" / "2_remix.py"), default_timeout=300)
    at.query_params["run"] = run_id
    at.run()
    rng = np.random.default_rng(0)
    n = len(at.slider) - 1
    times = []
    for i in range(moves):
        value = float(np.round(rng.uniform(0, 1) / 0.05) * 0.05)
        slider = at.slider[1 + i % n]
        if slider.value == value:
            value = round((value + 0.05) % 1.0, 2)
        t = time.perf_counter()
        slider.set_value(value).run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    times = np.array(times) * 1e3
    return {"moves": moves, "page_rerun_median_ms": float(np.median(times)),
            "page_rerun_p95_ms": float(np.percentile(times, 95))}


def estimate_error(root: str, run_id: str, n: int) -> dict:
    from taskfair.steering.estimate import RemixEstimator
    from taskfair.steering.exact import load_theta0, merged_model, model_margins
    from taskfair.metrics.fairness import group_rates
    from taskfair.store.results import load_results
    from taskfair.store import ArtifactStore

    res = load_results(root, run_id)
    run = ArtifactStore(root).open(run_id, verify=False)
    seed = next(iter(res.seeds))
    sr = res.seeds[seed]
    base = load_theta0(run, seed)
    variants = {"first_order": RemixEstimator(sr, "test", "first_order"),
                "diagonal_corrected": RemixEstimator(sr, "test", "diagonal"),
                "kernel": RemixEstimator(sr, "test", "kernel")}
    anchors = len(variants["kernel"].anchors)
    rng = np.random.default_rng(2024)
    rows = {k: [] for k in variants}
    t_est = []
    for _ in range(n):
        lams = rng.uniform(0, 1, len(res.groups))
        exact = model_margins(run, seed, merged_model(run, seed, lams, base), base[1])["test"]
        r_exact = group_rates(exact > 0, sr.labels["test"], sr.masks["test"])
        for name, est in variants.items():
            t = time.perf_counter()
            m = est.margins(lams)
            r = group_rates(m > 0, sr.labels["test"], sr.masks["test"])
            t_est.append(time.perf_counter() - t)
            rows[name].append((np.mean((m > 0) == (exact > 0)),
                               np.nanmax(np.abs(r.dpd - r_exact.dpd)),
                               np.nanmax(np.abs(r.eod - r_exact.eod)),
                               # the headline numbers the Remix page shows (with their expected error)
                               abs(float(r.overall_accuracy[0] - r_exact.overall_accuracy[0])),
                               abs(float(r.worst_dpd[0] - r_exact.worst_dpd[0])),
                               abs(float(r.worst_eod[0] - r_exact.worst_eod[0]))))
    out = {"n_random_points": n, "estimate_plus_metrics_median_ms": float(np.median(t_est) * 1e3),
           "kernel_anchor_points": anchors, "kernel_length_scale": variants["kernel"].length_scale,
           "probes": res.config["grids"].get("probes", 0), "pairs": res.config["grids"].get("pairs", [])}
    for name, vals in rows.items():
        a = np.array(vals)
        out[name] = {"label_agreement_mean": float(a[:, 0].mean()), "label_agreement_min": float(a[:, 0].min()),
                     "abs_dpd_error_mean": float(a[:, 1].mean()), "abs_dpd_error_max": float(a[:, 1].max()),
                     "abs_eod_error_mean": float(a[:, 2].mean()), "abs_eod_error_max": float(a[:, 2].max()),
                     "headline_error_mean": {"accuracy": float(a[:, 3].mean()), "worst_dpd": float(a[:, 4].mean()),
                                             "worst_eod": float(a[:, 5].mean())}}
    # what the page shows beside each estimate, against the realised error above
    out["kernel"]["expected_error_shown"] = variants["kernel"].expected_error()
    return out


def main(root: str = "artifacts", run_id: str = "quick", n: str = "20") -> None:
    res = {"latency": slider_latency(root, run_id), "error": estimate_error(root, run_id, int(n))}
    import json
    print(json.dumps(res, indent=2))
    save("remix", res)


if __name__ == "__main__":
    main(*sys.argv[1:])
