"""Per-subgroup λ that maximise validation accuracy under fairness bounds, confirmed exactly."""
from __future__ import annotations

from ..config import LAM_MAX
from ..config.values import number_arg
from .options import results, run_args


def add_parser(sub) -> None:
    q = sub.add_parser("search", help="find per-subgroup λ that maximise validation accuracy under fairness bounds")
    run_args(q)
    q.add_argument("--max-dpd", type=number_arg(lo=0, hi=1), help="bound on worst-case DPD (validation)")
    q.add_argument("--max-eod", type=number_arg(lo=0, hi=1), help="bound on worst-case EOD (validation)")
    q.add_argument("--samples", type=number_arg(integer=True, lo=1, hi=1_000_000), default=3000, help="random candidates before refinement")
    q.add_argument("--lam-min", type=number_arg(lo=-LAM_MAX, hi=LAM_MAX), help="lowest λ searched (default: the run's grids.lam_range, -1)")
    q.add_argument("--lam-max", type=number_arg(lo=-LAM_MAX, hi=LAM_MAX), help="highest λ searched (default: the run's grids.lam_range, 1.5)")
    q.add_argument("--confirm", type=number_arg(integer=True, lo=0, hi=1000), default=3, help="confirm this many by exact evaluation (0: none)")
    q.add_argument("--csv", help="write the confirmed candidates here")
    q.add_argument("--check-front", type=number_arg(integer=True, lo=0, hi=1000), default=0, metavar="N",
                   help="also evaluate exactly N points spread along the estimated front and compare the fronts")
    q.set_defaults(fn=run)


def run(args) -> int:
    import pandas as pd

    from ..metrics.tables import with_intervals
    from ..steering.search import confirm, search_coefficients
    res = results(args)
    from ..steering.configurations import lam_range
    lo, hi = lam_range(res)
    lo = args.lam_min if args.lam_min is not None else lo
    hi = args.lam_max if args.lam_max is not None else hi
    result = search_coefficients(res, max_dpd=args.max_dpd, max_eod=args.max_eod, n_random=args.samples,
                                 lam_range=(lo, hi))
    bounds = ", ".join(f"{k} ≤ {v:g}" for k, v in (("worst DPD", args.max_dpd), ("worst EOD", args.max_eod))
                       if v is not None) or "none (the whole Pareto front)"
    print(f"searched {len(result.candidates)} λ vectors in [{lo:g}, {hi:g}] on the validation estimate; "
          f"bounds: {bounds}; {int(result.candidates.feasible.sum())} feasible")
    if len(result.best) and result.best["extrapolated"].head(10).any():
        print("note: candidates marked extrapolated lie outside the stored points; their estimate is least "
              "reliable (the exact confirmation below settles them)")
    if result.best.empty:
        print("no candidate meets the bounds; loosen them (the lowest estimated worst DPD / EOD were "
              f"{result.candidates['val worst_dpd (estimate)'].min():.3f} / "
              f"{result.candidates['val worst_eod (estimate)'].min():.3f})")
        return 1
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(result.best.head(10).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if args.confirm:
            print(f"\nconfirming the first {args.confirm} by exact evaluation (validation = where λ was chosen, "
                  "test = what to report):")
            table = confirm(res, result, n=args.confirm)
            print(with_intervals(table).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            print("[low, high]: 95% bootstrap interval over the examples (and seeds, for a mean over several); "
                  "front share: the share of paired resamples in which the candidate is on the Pareto front "
                  "of every stored point; − FFT: the paired difference from FFT on test")
            if args.csv:
                table.to_csv(args.csv, index=False)
                print(f"wrote {args.csv}")
        if args.check_front:
            from ..steering.search import UNFAIRNESS, check_front
            fc = check_front(res, result, n=args.check_front)
            print(f"\nthe estimated front checked exactly at {len(fc.points)} points (validation; unfairness = {UNFAIRNESS}):")
            print(fc.points.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            print(f"hypervolume: estimated {fc.hv_estimate:.4f}, exact {fc.hv_exact:.4f} ({-fc.hv_gap:+.1%}); mean gap "
                  f"accuracy {fc.mean_gap['accuracy']:.3f}, unfairness {fc.mean_gap['unfairness']:.3f} "
                  f"(reference corner: accuracy {fc.reference[0]:.3f}, unfairness {fc.reference[1]:.3f})")
    return 0
