"""The one-file HTML report of a run: findings, configurations, thresholds, counterfactual tests."""
from __future__ import annotations

from pathlib import Path

from .options import BOOTSTRAP, results, run_args, warn_extrapolation


def add_parser(sub) -> None:
    r = sub.add_parser("report", help="one-file HTML report")
    run_args(r)
    r.add_argument("--config", action="append", help="a configuration to include (repeatable)")
    r.add_argument("--bootstrap", type=BOOTSTRAP, default=1000, help="bootstrap resamples (default 1000)")
    r.add_argument("-o", "--output", help="the HTML file (default <run>-report.html)")
    r.add_argument("--no-counterfactual", action="store_true",
                   help="leave out the counterfactual identity tests (they run each configuration's model)")
    r.set_defaults(fn=run)


def run(args) -> int:
    from ..publishing.htmlreport import html_report
    res = results(args)
    configs = args.config or ["fft", "lora", f"uniform:{next(iter(res.summary['chosen_lambda'].values())):g}"]
    warn_extrapolation(res, configs, args.exact)
    text = html_report(res, configs, n_boot=args.bootstrap, exact=args.exact, counterfactual=not args.no_counterfactual)
    out = Path(args.output or f"{args.run}-report.html")
    if out.is_dir():
        out = out / f"{args.run}-report.html"
    from ..store.files import atomic_path
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, opens offline): {', '.join(configs)}")
    return 0
