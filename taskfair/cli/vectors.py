"""Task-vector norms, per-layer norms, the cosine matrix and the fairness sensitivity per unit λ."""
from __future__ import annotations

from .options import SEED, results, run_args


def add_parser(sub) -> None:
    v = sub.add_parser("vectors", help="task-vector norms, per-layer norms, cosine matrix, fairness sensitivity")
    run_args(v)
    v.add_argument("--seed", type=SEED)
    v.set_defaults(fn=run)


def run(args) -> int:
    import pandas as pd

    from ..steering.sensitivity import sensitivity, vector_tables
    from ..metrics.tables import with_intervals
    res = results(args)
    t = vector_tables(res, args.seed)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print("norms:\n" + t["norms"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print("\ncosine similarity:\n" + t["cosine"].to_string(float_format=lambda v: f"{v:.3f}"))
        print("\nnorm per layer:\n" + t["layers"].pivot_table(index="vector", columns="layer", values="norm",
                                                              sort=False).to_string(float_format=lambda v: f"{v:.3f}"))
        sens = with_intervals(sensitivity(res), fmt="+.3f")
        print("\nslope of each subgroup's own DPD/EOD (and of accuracy) per unit λ (test), with its 95% "
              "bootstrap interval:\n" + sens.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0
