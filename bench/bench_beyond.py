"""Beyond the study, on a finished run (the embedded default `quick`): what each addition costs
and what it finds.

- per-group thresholds: fitting (fairlearn's ThresholdOptimizer on validation) and applying them
  per configuration, against the baseline of computing the same configuration's plain metrics from
  its stored margins (ratio in the same run); their headline beside FFT, LoRA and task addition;
- counterfactual identity tests: scoring per configuration, against the baseline of one exact
  evaluation of that configuration on the test split (ratio in the same run); flip rates;
- the search's estimated front, checked exactly at a few points: hypervolumes and the gap;
- a layer-wise search under a small budget: validation beside test.

    python bench/bench_beyond.py [artifact_root] [run_id] [front_points] [layerwise_budget]
"""
from __future__ import annotations

import sys
import time

import numpy as np

from common import save


def main(root: str = "artifacts", run_id: str = "quick", front_points: int = 5, budget: int = 6) -> dict:
    from taskfair.metrics.fairness import ALL, group_rates
    from taskfair.steering.margins import config_margins
    from taskfair.steering.counterfactual import counterfactual_test
    from taskfair.steering.exact import build_model, load_theta0, model_margins
    from taskfair.steering.configurations import parse_variant, recipe
    from taskfair.steering.layerwise import layerwise_search
    from taskfair.steering.search import check_front, search_coefficients
    from taskfair.steering.thresholds import threshold_metrics
    from taskfair.steering.views import chosen_configs
    from taskfair.store.results import load_results

    res = load_results(root, run_id)
    seed = next(iter(res.seeds))
    sr = res.seeds[seed]
    configs = chosen_configs(res)
    out: dict = {"run": run_id, "configs": configs, "thresholds": {}, "counterfactual": {}}

    # ---- thresholds: fit + apply per configuration, against plain metrics from the stored margins
    for spec in configs:
        t0 = time.perf_counter()
        for split in ("val", "test"):
            m, _ = config_margins(res, spec, seed, split)
            group_rates(m > 0, sr.labels[split], sr.masks[split])
        plain_s = time.perf_counter() - t0
        per = {}
        for c in ("dp", "eo"):
            t0 = time.perf_counter()
            t = threshold_metrics(res, spec, c)
            fit_s = time.perf_counter() - t0
            head = t[(t.group == ALL) & (t.split == "test")].set_index("metric").value
            per[c] = {"seconds": fit_s, "ratio_to_plain_metrics": fit_s / plain_s,
                      **{k: float(head[k]) for k in ("accuracy", "worst_dpd", "worst_eod")}}
        plain = {}
        m, _ = config_margins(res, spec, seed, "test")
        r = group_rates(m > 0, sr.labels["test"], sr.masks["test"])
        plain = {"accuracy": float(r.overall_accuracy[0]), "worst_dpd": float(r.worst_dpd[0]),
                 "worst_eod": float(r.worst_eod[0])}
        out["thresholds"][spec] = {"plain_metrics_s": plain_s, "plain_test": plain, **per}
        print(spec, "thresholds", {c: round(v["seconds"], 3) for c, v in per.items()}, "plain", round(plain_s, 4))

    # ---- counterfactual: scoring per configuration, against one exact test evaluation
    run = res.open_run()
    for spec in configs:
        base = load_theta0(run, seed)
        model = build_model(run, seed, recipe(parse_variant(spec, res.groups), res.groups, res.config, seed), base,
                            in_place=True)
        t0 = time.perf_counter()
        model_margins(run, seed, model, base[1], splits=("test",))
        exact_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cf = counterfactual_test(res, spec, seed=seed, model=model, processor=base[1])
        cf_s = time.perf_counter() - t0
        tab = cf.table.set_index("subgroup")
        out["counterfactual"][spec] = {
            "seconds": cf_s, "exact_test_eval_s": exact_s, "ratio_to_exact_eval": cf_s / exact_s,
            "swapped": int(tab.swapped.sum()), "test_examples": int(len(sr.labels["test"])),
            "flip_rate": {g: float(v) for g, v in tab["flip rate"].items()},
            "mean_delta_margin": {g: float(v) for g, v in tab["mean Δmargin"].items()}}
        print(spec, cf.summary(), f"({cf_s:.1f} s; exact test eval {exact_s:.1f} s)")
        del model, base

    # ---- the estimated front, checked
    t0 = time.perf_counter()
    stored, _ = sr.subgroup_space("val")  # searched within the stored points (a run without negative
    box = (float(stored.min()), float(stored.max()))  # axis points would only extrapolate below 0)
    result = search_coefficients(res, lam_range=box)
    fc = check_front(res, result, n=front_points)
    out["front"] = {"lam_range": box, "points": len(fc.points), "hv_estimate": fc.hv_estimate, "hv_exact": fc.hv_exact,
                    "hv_gap": fc.hv_gap, "mean_gap": fc.mean_gap, "still_on_exact_front":
                    int(fc.points["on the exact front"].sum()), "extrapolated": int(fc.points.extrapolated.sum()),
                    "seconds": time.perf_counter() - t0}
    print("front", out["front"])

    # ---- layer-wise search under a small budget
    t0 = time.perf_counter()
    found = layerwise_search(res, budget=budget)
    rep = found.report.set_index("which")
    out["layerwise"] = {"budget": budget, "seconds": time.perf_counter() - t0, "best": found.best,
                        "report": {k: {c: float(v) for c, v in row.items() if c != "spec"} for k, row in rep.iterrows()}}
    print("layerwise", out["layerwise"])
    save("beyond", out)
    return out


if __name__ == "__main__":
    a = sys.argv[1:]
    main(*(a[:2]), *(int(x) for x in a[2:4]))
