"""Export one configuration as a Hugging Face folder with its provenance record and model card."""
from __future__ import annotations

import os
from pathlib import Path

from .options import BOOTSTRAP, SEED, results, run_args


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="export one configuration as a Hugging Face folder with provenance")
    run_args(e, exact=False)
    e.add_argument("--config", required=True, help="the configuration, e.g. remix:0.2,0.5,0.4,0.3,0.6 or inject:female:0.6")
    e.add_argument("--seed", type=SEED, help="the seed whose θ0 and vectors to merge (default: the run's first)")
    e.add_argument("--bootstrap", type=BOOTSTRAP, default=1000, help="bootstrap resamples for the recorded intervals")
    e.add_argument("-o", "--output", help="the export folder, which must not exist (default exports/<run>-seed<s>-<config>)")
    e.set_defaults(fn=run)


def run(args) -> int:
    from ..publishing.export import default_export_name, export_configuration
    res = results(args)
    seed = args.seed if args.seed is not None else next(iter(res.seeds))
    exports = Path(os.environ.get("TASKFAIR_EXPORTS", "exports"))
    target = Path(args.output) if args.output else exports / default_export_name(res.run_id, seed, args.config)
    done = export_configuration(res, args.config, target, seed=seed, n_boot=args.bootstrap)
    print(f"exported {args.config} (seed {seed}) to {done.path}, verified by reloading")
    print(f"merged weights sha256: {done.record['merged_weights_sha256']}")
    print(f"check it any time: python -m taskfair recreate {done.path}")
    return 0
