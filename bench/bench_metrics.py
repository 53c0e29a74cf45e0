"""Vectorized per-subgroup accuracy/DPD/EOD against fairlearn, for one λ point and a 1,000-point
sweep, with identical results. Goal: at least 1,000x faster per point."""
from __future__ import annotations

import warnings

import numpy as np

from common import save, timeit


def fairlearn_point(y, pred, masks):
    from fairlearn.metrics import (MetricFrame, demographic_parity_difference,
                                   equalized_odds_difference)
    from sklearn.metrics import accuracy_score
    out = []
    for m in masks:
        a = m.astype(int)
        acc = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=pred, sensitive_features=a).by_group
        out.append((acc.get(1, np.nan), demographic_parity_difference(y, pred, sensitive_features=a),
                    equalized_odds_difference(y, pred, sensitive_features=a)))
    return np.array(out)


def main() -> None:
    from taskfair.metrics.fairness import group_rates

    rng = np.random.default_rng(0)
    n, g = 3500, 8   # the size of a RedditBias test split, eight subgroups
    y = rng.integers(0, 2, n)
    masks = rng.random((g, n)) < 0.2
    sweep = rng.random((1000, n)) < 0.5
    warnings.simplefilter("ignore")

    ref = np.stack([fairlearn_point(y, sweep[t].astype(int), masks) for t in range(5)])
    r = group_rates(sweep[:5], y, masks)
    mine = np.stack([r.accuracy, r.dpd, r.eod], axis=-1)
    max_diff = float(np.nanmax(np.abs(ref - mine)))

    fl = timeit(lambda: fairlearn_point(y, sweep[0].astype(int), masks), repeat=5)
    one = timeit(lambda: group_rates(sweep[:1], y, masks), repeat=50, warmup=5)
    thousand = timeit(lambda: group_rates(sweep, y, masks), repeat=7)
    per_point_sweep = thousand["median_s"] / 1000
    res = {
        "n_examples": n, "n_groups": g, "max_abs_diff_vs_fairlearn": max_diff,
        "fairlearn_per_point_s": fl["median_s"], "vectorized_one_point_s": one["median_s"],
        "vectorized_1000_points_s": thousand["median_s"],
        "speedup_one_point": fl["median_s"] / one["median_s"],
        "speedup_per_point_in_sweep": fl["median_s"] / per_point_sweep,
        "fairlearn_1000_points_s_estimated": fl["median_s"] * 1000,
    }
    for k, v in res.items():
        print(f"{k:>36}: {v:.6g}" if isinstance(v, float) else f"{k:>36}: {v}")
    save("metrics", res)


if __name__ == "__main__":
    main()
