"""Per-block λ: evaluate one layer-wise configuration exactly, or search them on validation."""
from __future__ import annotations

import sys

from ..config.values import number_arg, parse_number
from .options import results, run_args


def add_parser(sub) -> None:
    w = sub.add_parser("layerwise", help="per-block λ: evaluate one exactly, or search on validation under a budget")
    run_args(w)
    w.add_argument("--config", help="a layer-wise configuration, e.g. layerwise:1/1/0.5/0,… (one λ/λ/λ/λ per subgroup)")
    w.add_argument("--search", action="store_true", help="coordinate search of per-block λ on validation")
    w.add_argument("--start", help="where the search starts: a remix or layer-wise configuration (default: the chosen λ)")
    w.add_argument("--budget", type=number_arg(integer=True, lo=1, hi=10_000), default=12, help="exact evaluations the search may spend (default 12)")
    w.add_argument("--step", type=number_arg(lo=1e-6, hi=10), default=0.25, help="the search's first step in λ (default 0.25)")
    w.add_argument("--max-dpd", type=number_arg(lo=0, hi=1), help="penalise validation worst DPD above this")
    w.add_argument("--max-eod", type=number_arg(lo=0, hi=1), help="penalise validation worst EOD above this")
    w.add_argument("--bounds", help="layers where blocks split, e.g. 2,4 (default: two halves)")
    w.add_argument("--csv", help="write the search history here")
    w.set_defaults(fn=run)


def run(args) -> int:
    import pandas as pd

    from ..metrics.fairness import ALL
    from ..steering.exact import exact_metrics
    from ..steering.layerwise import layerwise_search, run_blocks
    res = results(args)
    bounds = tuple(int(parse_number(x, what="--bounds", integer=True, lo=1, hi=10_000))
                   for x in args.bounds.split(",")) if args.bounds else ()
    blocks = run_blocks(res, bounds or None)
    print(f"blocks of this model: {', '.join(blocks)}")
    if args.config:
        t = exact_metrics(res, args.config, splits=("val", "test"))
        t = t[(t.group == ALL) & t.metric.isin(["accuracy", "worst_dpd", "worst_eod"])]
        wide = t.groupby(["split", "metric"]).value.mean().unstack("metric")
        print(f"{args.config}, exact (mean over seeds):")
        print(wide.to_string(float_format=lambda v: f"{v:.3f}"))
        return 0
    if not args.search:
        print("give --config layerwise:… to evaluate one, or --search to look for per-block λ on validation")
        return 0
    from tqdm import tqdm
    bar = tqdm(total=100, desc="layer-wise search", unit="%", disable=not sys.stderr.isatty())

    def step(f, text):
        bar.n = int(100 * f)
        bar.set_postfix_str(text)
        bar.refresh()
    found = layerwise_search(res, start=args.start, budget=args.budget, step=args.step, max_dpd=args.max_dpd,
                             max_eod=args.max_eod, bounds=bounds, progress=step)
    bar.close()
    print(f"{len(found.history)} exact evaluations on validation; best: {found.best}")
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.max_colwidth", 80):
        print(found.report.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("validation is where the λ were chosen; test is what to report")
    if args.csv:
        found.history.to_csv(args.csv, index=False)
        print(f"wrote the search history to {args.csv}")
    return 0
