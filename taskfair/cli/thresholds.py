"""Per-group thresholds (fairlearn's ThresholdOptimizer) over configurations, against the merges."""
from __future__ import annotations

from .options import configs_to_run, results, run_args, warn_extrapolation


def add_parser(sub) -> None:
    t = sub.add_parser("thresholds", help="per-group thresholds (fairlearn) over configurations, against the merges")
    run_args(t)
    t.add_argument("--config", action="append",
                   help="a configuration to post-process (repeatable; default fft, lora and task addition at the chosen λ)")
    t.add_argument("--constraint", action="append", choices=["dp", "eo"],
                   help="dp: demographic parity, eo: equalized odds (repeatable; default both)")
    t.add_argument("--csv", help="write the table here")
    t.set_defaults(fn=run)


def run(args) -> int:
    import pandas as pd

    from ..metrics.fairness import ALL
    from ..steering.margins import config_margins
    from ..steering.thresholds import NAMES, THRESHOLD_CAVEAT, fit_thresholds, metrics_of_margins
    res = results(args)
    configs = configs_to_run(args, res)
    warn_extrapolation(res, configs, args.exact)
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
    from ..metrics.fairness import group_rates
    out = {"accuracy": [], "worst_dpd": [], "worst_eod": []}
    for seed, by_split in margins.items():
        sr = res.seeds[seed]
        r = group_rates(by_split[split] > 0, sr.labels[split], sr.masks[split])
        for k in out:
            out[k].append(float(getattr(r, k)[0]) if k != "accuracy" else float(r.overall_accuracy[0]))
    return {k: sum(v) / len(v) for k, v in out.items()}
