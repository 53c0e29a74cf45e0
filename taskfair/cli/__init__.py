"""Command line over finished runs and exports, one module per command (``taskfair <command>``,
or ``python -m taskfair <command>``):

    taskfair report  --run quick [--config fft --config remix:0.2,0.5,0.4,0.3,0.6] [-o report.html]
    taskfair diff    --run quick fft remix:0.2,0.5,0.4,0.3,0.6 [--split test] [--csv changes.csv]
    taskfair export  --run quick --config remix:0.2,0.5,0.4,0.3,0.6 [--seed 13] [-o DIR]
    taskfair recreate exports/my-model [--artifacts artifacts] [--output rebuilt/]
    taskfair vectors --run quick
    taskfair search  --run quick [--max-dpd 0.1] [--max-eod 0.15] [--confirm 3] [--csv out.csv]
    taskfair thresholds --run quick [--config fft --config uniform:0.4] [--constraint dp] [--csv out.csv]
    taskfair counterfactual --run quick [--config fft --config remix:0.2,-0.5,0.4,0.3,0.6] [--csv out.csv]
    taskfair layerwise --run quick --search [--budget 12] [--max-dpd 0.2]   (or --config layerwise:…)
    taskfair images  data/synthetic-images [--n 1200] [--seed 0] [--overwrite]
    taskfair methods

Configurations are named as in :mod:`taskfair.steering.configurations` (base, fft, lora, subgroup:<g>,
uniform:<λ>, inject:<g>:<λ>, axis:<g>:<λ>, remix:<λ1>,…, a merge method as ties:<λ>, layerwise:<λ/λ/λ/λ>,…).
Exit status 2 for bad input, 1 when ``recreate`` does not reproduce the recorded hash.

- :mod:`.options` — what the commands share (run options, number readers, option checks)
- one module per command, each with ``add_parser(sub)`` and ``run(args) -> int``
"""
from __future__ import annotations

import argparse
import sys

from . import (counterfactual, diff, export, images, layerwise, methods, recreate, report, search, thresholds,
               vectors)
from .options import check_options

__all__ = ["main", "console"]

COMMANDS = (report, diff, recreate, export, search, vectors, thresholds, counterfactual, layerwise, images, methods)


def parser(prog: str = "python -m taskfair") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Command line over finished taskfair runs and exports.")
    sub = p.add_subparsers(dest="cmd", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None, *, prog: str = "python -m taskfair") -> int:
    try:
        args = parser(prog).parse_args(argv)
    except SystemExit as exc:   # argparse has printed the option and what is wrong with it
        return int(exc.code or 0)
    from ..errors import StoreError
    from ..publishing.export import ExportError
    from ..publishing.provenance import ProvenanceError
    from ..steering.configurations import VariantSpecError
    problem = check_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        return args.fn(args)
    except (VariantSpecError, ExportError, ProvenanceError, StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # an output place that fails midway: named with its cause, in one line
        from ..store.files import os_error_line
        print(f"error: {os_error_line(exc, exc.filename or '.')}", file=sys.stderr)
        return 2


def console() -> int:
    """The ``taskfair`` console script (``pip install -e .``)."""
    return main(prog="taskfair")
