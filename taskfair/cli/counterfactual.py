"""Counterfactual identity tests: swap identity terms and count the predictions that flip."""
from __future__ import annotations

from ..config.values import number_arg
from .options import SEED, configs_to_run, results, run_args


def add_parser(sub) -> None:
    f = sub.add_parser("counterfactual", help="swap identity terms and count the predictions that flip, per subgroup")
    run_args(f)
    f.add_argument("--config", action="append",
                   help="a configuration to test (repeatable; default fft, lora and task addition at the chosen λ)")
    f.add_argument("--seed", type=SEED, help="the seed whose model to test (default: the run's first)")
    f.add_argument("--split", choices=["val", "test"], default="test")
    f.add_argument("--max-per-group", type=number_arg(integer=True, lo=1, hi=10_000_000), help="score at most this many swapped comments per subgroup")
    f.add_argument("--show", type=number_arg(integer=True, lo=0, hi=100_000), default=3, help="flipped examples to print per configuration")
    f.add_argument("--csv", help="write the table here")
    f.set_defaults(fn=run)


def run(args) -> int:
    import pandas as pd

    from ..steering.counterfactual import counterfactual_test
    res = results(args)
    configs = configs_to_run(args, res)
    frames = []
    for c in configs:
        cf = counterfactual_test(res, c, seed=args.seed, split=args.split, max_per_group=args.max_per_group)
        print(cf.summary())
        frames.append(cf.table.assign(configuration=cf.config))
        if args.show:
            flips = cf.examples[cf.examples.flipped].head(args.show) if len(cf.examples) else cf.examples
            for _, r in flips.iterrows():
                print(f"  [{r.subgroup}] {r.margin:+.2f} -> {r['counterfactual margin']:+.2f}: {r.text[:100]!r}\n"
                      f"      as {r.counterfactual[:100]!r}")
    table = pd.concat(frames, ignore_index=True)
    table = table[["configuration"] + [c for c in table.columns if c != "configuration"]]
    with pd.option_context("display.width", 220, "display.max_columns", 20):
        print()
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("\nflip rate: share of swapped comments whose prediction changes when only the identity term changes; "
          "Δmargin: counterfactual − original (positive: towards hostile)")
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0
