"""The registered merge methods: each one's label, parameters, defaults and ranges, and how to
use it in a run (``grids.methods``) and in a configuration string."""
from __future__ import annotations


def add_parser(sub) -> None:
    m = sub.add_parser("methods", help="the merge methods a run can evaluate, with their parameters and ranges")
    m.set_defaults(fn=run)


def run(args) -> int:
    from ..methods import MERGE_METHODS, PLAIN
    for spec in MERGE_METHODS.values():
        how = "the remix itself (every run)" if spec.name == PLAIN else \
            f"grids.methods: [{spec.name}]; configuration {spec.name}:<λ>"
        print(f"{spec.name} — {spec.label}{' (draws random numbers: seeded by the run)' if spec.seeded else ''}")
        print(f"    {spec.description}")
        print(f"    use: {how}")
        for p in spec.params:
            print(f"    grids.method_params.{spec.name}.{p.name} = {p.default:g} (in {p.interval})"
                  + (f": {p.help}" if p.help else ""))
    return 0
