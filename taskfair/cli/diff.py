"""The examples whose prediction changes between two configurations."""
from __future__ import annotations

from ..config.values import number_arg
from .options import SEED, results, run_args, warn_extrapolation


def add_parser(sub) -> None:
    d = sub.add_parser("diff", help="examples whose prediction changes between two configurations")
    run_args(d)
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--seed", type=SEED)
    d.add_argument("--split", choices=["val", "test"], default="test")
    d.add_argument("--csv", help="write every changed example to this CSV")
    d.add_argument("--show", type=number_arg(integer=True, lo=0, hi=100_000), default=5, help="examples to print per direction")
    d.set_defaults(fn=run)


def run(args) -> int:
    from ..steering.diff import DIRECTIONS, example_diff
    res = results(args)
    warn_extrapolation(res, [args.a, args.b], args.exact)
    d = example_diff(res, args.a, args.b, seed=args.seed, split=args.split, exact=args.exact)
    print(d.summary())
    print()
    print(d.counts.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if args.csv:
        d.examples.to_csv(args.csv, index=False)
        print(f"\nwrote {len(d.examples)} changed examples to {args.csv}")
    else:
        for direction in DIRECTIONS[:2]:
            part = d.examples[d.examples["flag change"] == direction].head(args.show)
            if len(part):
                print(f"\n{direction} (first {len(part)}):")
                for _, r in part.iterrows():
                    text = r.text if len(r.text) <= 140 else r.text[:137] + "…"
                    print(f"  [{r.subgroups}] label {r.label}: {text}")
    return 0
