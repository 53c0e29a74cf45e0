"""What the commands share: the run options, the number readers, loading a run, the warning for
an extrapolated estimate, and the checks of options that are wrong whatever the run."""
from __future__ import annotations

import sys
from pathlib import Path

from ..config.values import number_arg

__all__ = ["run_args", "SEED", "BOOTSTRAP", "results", "configs_to_run", "warn_extrapolation", "check_options"]

SEED = number_arg(integer=True, lo=0, hi=2 ** 32 - 1)
BOOTSTRAP = number_arg(integer=True, lo=0, hi=100_000)


def run_args(q, *, exact: bool = True) -> None:
    """``--run`` and ``--artifacts`` (and ``--exact``, for commands that may estimate)."""
    q.add_argument("--run", required=True, help="run id (a folder under --artifacts)")
    q.add_argument("--artifacts", default="artifacts", help="artifact root (default: artifacts)")
    if exact:
        q.add_argument("--exact", action="store_true",
                       help="evaluate remixes that were not stored by running the model (else: estimate)")


def results(args):
    from ..store.results import load_results
    return load_results(args.artifacts, args.run)


def configs_to_run(args, res) -> list[str]:
    """``--config`` values, or FFT, LoRA and task addition at the chosen λ; every one checked
    against the run before any model is built."""
    from ..steering.configurations import parse_variant
    from ..steering.views import chosen_configs
    configs = args.config or chosen_configs(res)
    for c in configs:
        parse_variant(c, res.groups)
    return configs


def warn_extrapolation(res, configs, exact: bool) -> None:
    from ..steering.configurations import extrapolation
    if exact:
        return
    for c in configs:
        why = extrapolation(res, c)
        if why:
            print(f"warning: {c} is estimated, and {why}; its figures may be far off: add --exact", file=sys.stderr)


def check_options(args) -> str:
    """Options that are wrong whatever the run: named, with what to give instead ("" if none)."""
    if getattr(args, "bootstrap", 0) is not None and getattr(args, "bootstrap", 0) < 0:
        return f"--bootstrap must be a number of resamples ≥ 0 (0: no intervals), got {args.bootstrap}"
    if args.cmd == "images" and Path(args.folder).exists() and not Path(args.folder).is_dir():
        return f"images writes a folder, but {args.folder} is a file; give a folder path (e.g. data/synthetic-images)"
    if getattr(args, "seed", None) is not None and hasattr(args, "run") and args.cmd in ("vectors", "diff", "export"):
        from ..store.root import ArtifactStore
        try:
            seeds = ArtifactStore(args.artifacts).open(args.run, verify=False).seeds
        except Exception:  # an unknown run is reported by the command itself
            return ""
        if args.seed not in seeds:
            return f"--seed {args.seed} is not a seed of run {args.run!r} (its seeds: {', '.join(map(str, seeds))})"
    return ""
