"""The command line's work beyond the study: per-group thresholds against the merges,
counterfactual identity tests of any configuration, and layer-wise coefficients (see
:mod:`taskfair.__main__`)."""
from __future__ import annotations

import sys

from .config.values import number_arg, parse_number


def _results(args):
    from .store.results import load_results
    return load_results(args.artifacts, args.run)


def _warn_extrapolation(res, configs, exact: bool) -> None:
    from .steering.configurations import extrapolation
    if exact:
        return
    for c in configs:
        why = extrapolation(res, c)
        if why:
            print(f"warning: {c} is estimated, and {why}; its figures may be far off: add --exact", file=sys.stderr)


def cmd_thresholds(args) -> int:
    import pandas as pd

    from .metrics.fairness import ALL
    from .steering.configurations import parse_config
    from .steering.margins import config_margins
    from .steering.thresholds import NAMES, THRESHOLD_CAVEAT, fit_thresholds, metrics_of_margins
    from .steering.views import chosen_configs
    res = _results(args)
    configs = args.config or chosen_configs(res)
    for spec in configs:
        parse_config(spec, res.groups)  # every name checked before any model is built
    _warn_extrapolation(res, configs, args.exact)
    rows, first = [], None
    for spec in configs:
        # each configuration's margins once (an exact one runs the model once per seed and split)
        margins = {seed: {split: config_margins(res, spec, seed, split, exact=args.exact)[0] for split in ("val", "test")}
                   for seed in res.seeds}
        first = first or margins
        for c in args.constraint or list(NAMES):
            t = metrics_of_margins(res, margins, c)
            for split, part in t[t.group == ALL].groupby("split", sort=False):
                before = _plain_metrics(res, margins, split)
                means = part.groupby("metric").value.mean()
                rows.append({"configuration": spec, "thresholds": NAMES[c], "split": split,
                             **{f"{k} before": before[k] for k in ("accuracy", "worst_dpd", "worst_eod")},
                             **{f"{k} after": float(means[k]) for k in ("accuracy", "worst_dpd", "worst_eod")}})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 220, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    seed = next(iter(res.seeds))
    sr = res.seeds[seed]
    fit = fit_thresholds(first[seed]["val"], sr.labels["val"], sr.masks["val"], res.groups,
                         (args.constraint or ["dp"])[0])
    print(f"\nfitted policy of {configs[0]}@{fit.constraint} (seed {seed}; decision = margin above the threshold, "
          "randomised between two thresholds with these probabilities):")
    print(fit.thresholds().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if fit.pooled:
        fate = ("fitted as one category" if "(other)" in fit.categories else
                "still too few to fit: those examples keep the model's own decision")
        print(f"pooled into (other) (too few validation examples, or one label only; {fate}): {', '.join(fit.pooled)}")
    print(f"\nnote: {THRESHOLD_CAVEAT}")
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def _plain_metrics(res, margins: dict, split: str) -> dict[str, float]:
    """Accuracy and worst DPD/EOD of the margins ``{seed: {split: [N]}}`` without thresholds (mean over seeds)."""
    from .metrics.fairness import group_rates
    out = {"accuracy": [], "worst_dpd": [], "worst_eod": []}
    for seed, by_split in margins.items():
        sr = res.seeds[seed]
        r = group_rates(by_split[split] > 0, sr.labels[split], sr.masks[split])
        for k in out:
            out[k].append(float(getattr(r, k)[0]) if k != "accuracy" else float(r.overall_accuracy[0]))
    return {k: sum(v) / len(v) for k, v in out.items()}


def cmd_counterfactual(args) -> int:
    import pandas as pd

    from .steering.configurations import parse_config
    from .steering.counterfactual import counterfactual_test
    from .steering.views import chosen_configs
    res = _results(args)
    configs = args.config or chosen_configs(res)
    for c in configs:
        parse_config(c, res.groups)  # every name checked before any model is built
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


def cmd_layerwise(args) -> int:
    import pandas as pd

    from .metrics.fairness import ALL
    from .steering.exact import exact_metrics
    from .steering.layerwise import layerwise_search, run_blocks
    res = _results(args)
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


def add_beyond_parsers(sub, run_args) -> None:
    t = sub.add_parser("thresholds", help="per-group thresholds (fairlearn) over configurations, against the merges")
    run_args(t)
    t.add_argument("--config", action="append",
                   help="a configuration to post-process (repeatable; default fft, lora and task addition at the chosen λ)")
    t.add_argument("--constraint", action="append", choices=["dp", "eo"],
                   help="dp: demographic parity, eo: equalized odds (repeatable; default both)")
    t.add_argument("--csv", help="write the table here")
    t.set_defaults(fn=cmd_thresholds)

    f = sub.add_parser("counterfactual", help="swap identity terms and count the predictions that flip, per subgroup")
    run_args(f)
    f.add_argument("--config", action="append",
                   help="a configuration to test (repeatable; default fft, lora and task addition at the chosen λ)")
    f.add_argument("--seed", type=number_arg(integer=True, lo=0, hi=2 ** 32 - 1), help="the seed whose model to test (default: the run's first)")
    f.add_argument("--split", choices=["val", "test"], default="test")
    f.add_argument("--max-per-group", type=number_arg(integer=True, lo=1, hi=10_000_000), help="score at most this many swapped comments per subgroup")
    f.add_argument("--show", type=number_arg(integer=True, lo=0, hi=100_000), default=3, help="flipped examples to print per configuration")
    f.add_argument("--csv", help="write the table here")
    f.set_defaults(fn=cmd_counterfactual)

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
    w.set_defaults(fn=cmd_layerwise)
