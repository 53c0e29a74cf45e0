"""Command line over finished runs and exports.

    python -m taskfair report  --run quick [--config fft --config remix:0.2,0.5,0.4,0.3,0.6] [-o report.html]
    python -m taskfair diff    --run quick fft remix:0.2,0.5,0.4,0.3,0.6 [--split test] [--csv changes.csv]
    python -m taskfair export  --run quick --config remix:0.2,0.5,0.4,0.3,0.6 [--seed 13] [-o DIR]
    python -m taskfair recreate exports/my-model [--artifacts artifacts] [--output rebuilt/]
    python -m taskfair vectors --run quick
    python -m taskfair search  --run quick [--max-dpd 0.1] [--max-eod 0.15] [--confirm 3] [--csv out.csv]
    python -m taskfair thresholds --run quick [--config fft --config uniform:0.4] [--constraint dp] [--csv out.csv]
    python -m taskfair counterfactual --run quick [--config fft --config remix:0.2,-0.5,0.4,0.3,0.6] [--csv out.csv]
    python -m taskfair layerwise --run quick --search [--budget 12] [--max-dpd 0.2]   (or --config layerwise:…)
    python -m taskfair images  data/synthetic-images [--n 1200] [--seed 0] [--overwrite]

Configurations are named as in :mod:`taskfair.steering.configurations` (base, fft, lora, subgroup:<g>,
uniform:<λ>, inject:<g>:<λ>, axis:<g>:<λ>, remix:<λ1>,…, layerwise:<λ/λ/λ/λ>,…). Exit status 2 for bad input,
1 when ``recreate`` does not reproduce the recorded hash.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config.values import number_arg
from .cli_beyond import _results, _warn_extrapolation, add_beyond_parsers  # thresholds, counterfactual


def cmd_report(args) -> int:
    from .publishing.htmlreport import html_report
    res = _results(args)
    configs = args.config or ["fft", "lora", f"uniform:{next(iter(res.summary['chosen_lambda'].values())):g}"]
    _warn_extrapolation(res, configs, args.exact)
    text = html_report(res, configs, n_boot=args.bootstrap, exact=args.exact, counterfactual=not args.no_counterfactual)
    out = Path(args.output or f"{args.run}-report.html")
    if out.is_dir():
        out = out / f"{args.run}-report.html"
    from .store.files import atomic_path
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, opens offline): {', '.join(configs)}")
    return 0


def cmd_diff(args) -> int:
    from .steering.diff import DIRECTIONS, example_diff
    res = _results(args)
    _warn_extrapolation(res, [args.a, args.b], args.exact)
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


def cmd_recreate(args) -> int:
    from .publishing.provenance import RECORD_FILE, check_export_files, check_folder_weights, read_record, recreate
    record = read_record(args.record)
    damaged = check_export_files(args.record, record)
    for line in damaged:
        print(f"export file {line}")
    folder = Path(args.record)
    folder = folder if folder.is_dir() else folder.parent if folder.name == RECORD_FILE else None
    if folder is not None and list(folder.glob("*.safetensors")):
        # before rebuilding: the record's own hash can be recomputed by anyone; the weights here must
        # be the weights it says were merged
        mismatch = check_folder_weights(folder, record)
        if mismatch:
            print(f"DIFFERENT: {mismatch}")
            return 1
    model, tok, sha, ok = recreate(record, artifact_root=args.artifacts)
    print(f"recorded merged weights sha256: {record['merged_weights_sha256']}")
    print(f"rebuilt  merged weights sha256: {sha}")
    if args.output:
        from .publishing.export import export_model
        export_model(model, tok, Path(args.output), record=record)
        print(f"wrote {args.output}")
    if damaged:
        print(f"DIFFERENT: {len(damaged)} file(s) of the export no longer match its record (listed above)")
        return 1
    print("identical: the record reproduces the model" if ok else "DIFFERENT: the rebuilt weights do not match")
    return 0 if ok else 1


def cmd_export(args) -> int:
    from .publishing.export import default_export_name, export_configuration
    res = _results(args)
    seed = args.seed if args.seed is not None else next(iter(res.seeds))
    import os
    exports = Path(os.environ.get("TASKFAIR_EXPORTS", "exports"))
    target = Path(args.output) if args.output else exports / default_export_name(res.run_id, seed, args.config)
    done = export_configuration(res, args.config, target, seed=seed, n_boot=args.bootstrap)
    print(f"exported {args.config} (seed {seed}) to {done.path}, verified by reloading")
    print(f"merged weights sha256: {done.record['merged_weights_sha256']}")
    print(f"check it any time: python -m taskfair recreate {done.path}")
    return 0


def cmd_search(args) -> int:
    import pandas as pd

    from .metrics.tables import with_intervals
    from .steering.search import confirm, search_coefficients
    res = _results(args)
    from .steering.configurations import lam_range
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
            from .steering.search import UNFAIRNESS, check_front
            fc = check_front(res, result, n=args.check_front)
            print(f"\nthe estimated front checked exactly at {len(fc.points)} points (validation; unfairness = {UNFAIRNESS}):")
            print(fc.points.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            print(f"hypervolume: estimated {fc.hv_estimate:.4f}, exact {fc.hv_exact:.4f} ({-fc.hv_gap:+.1%}); mean gap "
                  f"accuracy {fc.mean_gap['accuracy']:.3f}, unfairness {fc.mean_gap['unfairness']:.3f} "
                  f"(reference corner: accuracy {fc.reference[0]:.3f}, unfairness {fc.reference[1]:.3f})")
    return 0


def cmd_vectors(args) -> int:
    import pandas as pd

    from .steering.sensitivity import sensitivity, vector_tables
    from .metrics.tables import with_intervals
    res = _results(args)
    t = vector_tables(res, args.seed)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print("norms:\n" + t["norms"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print("\ncosine similarity:\n" + t["cosine"].to_string(float_format=lambda v: f"{v:.3f}"))
        print("\nnorm per layer:\n" + t["layers"].pivot_table(index="vector", columns="layer", values="norm",
                                                              sort=False).to_string(float_format=lambda v: f"{v:.3f}"))
        sens = with_intervals(sensitivity(res), fmt="+.3f")
        print("\nslope of each subgroup's own DPD/EOD (and of accuracy) per unit λ (test), with its 95% "
              "bootstrap interval:\n" + sens.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def cmd_images(args) -> int:
    from .data.images import load_image_folder, synthetic_image_folder
    csv = synthetic_image_folder(args.folder, n=args.n, size=args.size, seed=args.seed, overwrite=args.overwrite)
    data = load_image_folder(csv, group_column="group")
    print(f"wrote {len(data)} images and {csv}")
    print(data.group_sizes().to_string(index=False))
    default = Path("data/synthetic-images/labels.csv")
    same = csv.resolve() == default.resolve()
    print("next: python -m precompute --config images-demo" + ("" if same else f" --set dataset.path={csv}"))
    return 0


def _check_options(args) -> str:
    """Options that are wrong whatever the run: named, with what to give instead."""
    if getattr(args, "bootstrap", 0) is not None and getattr(args, "bootstrap", 0) < 0:
        return f"--bootstrap must be a number of resamples ≥ 0 (0: no intervals), got {args.bootstrap}"
    if args.cmd == "images" and Path(args.folder).exists() and not Path(args.folder).is_dir():
        return f"images writes a folder, but {args.folder} is a file; give a folder path (e.g. data/synthetic-images)"
    if getattr(args, "seed", None) is not None and hasattr(args, "run") and args.cmd in ("vectors", "diff", "export"):
        from .store.root import ArtifactStore
        try:
            seeds = ArtifactStore(args.artifacts).open(args.run, verify=False).seeds
        except Exception:  # an unknown run is reported by the command itself
            return ""
        if args.seed not in seeds:
            return f"--seed {args.seed} is not a seed of run {args.run!r} (its seeds: {', '.join(map(str, seeds))})"
    return ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskfair", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def run_args(q):
        q.add_argument("--run", required=True, help="run id (a folder under --artifacts)")
        q.add_argument("--artifacts", default="artifacts", help="artifact root (default: artifacts)")
        q.add_argument("--exact", action="store_true",
                       help="evaluate remixes that were not stored by running the model (else: estimate)")

    r = sub.add_parser("report", help="one-file HTML report")
    run_args(r)
    r.add_argument("--config", action="append", help="a configuration to include (repeatable)")
    r.add_argument("--bootstrap", type=number_arg(integer=True, lo=0, hi=100_000), default=1000, help="bootstrap resamples (default 1000)")
    r.add_argument("-o", "--output", help="the HTML file (default <run>-report.html)")
    r.add_argument("--no-counterfactual", action="store_true",
                   help="leave out the counterfactual identity tests (they run each configuration's model)")
    r.set_defaults(fn=cmd_report)

    d = sub.add_parser("diff", help="examples whose prediction changes between two configurations")
    run_args(d)
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--seed", type=number_arg(integer=True, lo=0, hi=2 ** 32 - 1))
    d.add_argument("--split", choices=["val", "test"], default="test")
    d.add_argument("--csv", help="write every changed example to this CSV")
    d.add_argument("--show", type=number_arg(integer=True, lo=0, hi=100_000), default=5, help="examples to print per direction")
    d.set_defaults(fn=cmd_diff)

    c = sub.add_parser("recreate", help="rebuild an exported model from its provenance.json and check its hash")
    c.add_argument("record", help="an export folder or its provenance.json")
    c.add_argument("--artifacts", help="artifact root holding the run (default: the one recorded)")
    c.add_argument("--output", help="also write the rebuilt model as an export folder here")
    c.set_defaults(fn=cmd_recreate)

    e = sub.add_parser("export", help="export one configuration as a Hugging Face folder with provenance")
    e.add_argument("--run", required=True, help="run id (a folder under --artifacts)")
    e.add_argument("--artifacts", default="artifacts", help="artifact root (default: artifacts)")
    e.add_argument("--config", required=True, help="the configuration, e.g. remix:0.2,0.5,0.4,0.3,0.6 or inject:female:0.6")
    e.add_argument("--seed", type=number_arg(integer=True, lo=0, hi=2 ** 32 - 1), help="the seed whose θ0 and vectors to merge (default: the run's first)")
    e.add_argument("--bootstrap", type=number_arg(integer=True, lo=0, hi=100_000), default=1000, help="bootstrap resamples for the recorded intervals")
    e.add_argument("-o", "--output", help="the export folder, which must not exist (default exports/<run>-seed<s>-<config>)")
    e.set_defaults(fn=cmd_export)

    q = sub.add_parser("search", help="find per-subgroup λ that maximise validation accuracy under fairness bounds")
    run_args(q)
    q.add_argument("--max-dpd", type=number_arg(lo=0, hi=1), help="bound on worst-case DPD (validation)")
    q.add_argument("--max-eod", type=number_arg(lo=0, hi=1), help="bound on worst-case EOD (validation)")
    q.add_argument("--samples", type=number_arg(integer=True, lo=1, hi=1_000_000), default=3000, help="random candidates before refinement")
    q.add_argument("--lam-min", type=number_arg(lo=-10, hi=10), help="lowest λ searched (default: the run's grids.lam_range, -1)")
    q.add_argument("--lam-max", type=number_arg(lo=-10, hi=10), help="highest λ searched (default: the run's grids.lam_range, 1.5)")
    q.add_argument("--confirm", type=number_arg(integer=True, lo=0, hi=1000), default=3, help="confirm this many by exact evaluation (0: none)")
    q.add_argument("--csv", help="write the confirmed candidates here")
    q.add_argument("--check-front", type=number_arg(integer=True, lo=0, hi=1000), default=0, metavar="N",
                   help="also evaluate exactly N points spread along the estimated front and compare the fronts")
    q.set_defaults(fn=cmd_search)

    v = sub.add_parser("vectors", help="task-vector norms, per-layer norms, cosine matrix, fairness sensitivity")
    run_args(v)
    v.add_argument("--seed", type=number_arg(integer=True, lo=0, hi=2 ** 32 - 1))
    v.set_defaults(fn=cmd_vectors)

    add_beyond_parsers(sub, run_args)

    m = sub.add_parser("images", help="write a synthetic image folder with labels.csv (image, label, group)")
    m.add_argument("folder")
    m.add_argument("--n", type=number_arg(integer=True, lo=1, hi=1_000_000), default=1200, help="number of images (default 1200)")
    m.add_argument("--size", type=number_arg(integer=True, lo=4, hi=4096), default=32, help="image side in pixels (default 32)")
    m.add_argument("--seed", type=number_arg(integer=True, lo=0, hi=2 ** 32 - 1), default=0)
    m.add_argument("--overwrite", action="store_true", help="replace an existing labels.csv")
    m.set_defaults(fn=cmd_images)

    try:
        args = p.parse_args(argv)
    except SystemExit as exc:   # argparse has printed the option and what is wrong with it
        return int(exc.code or 0)
    from .errors import StoreError
    from .publishing.export import ExportError
    from .publishing.provenance import ProvenanceError
    from .steering.configurations import ConfigSpecError
    problem = _check_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        return args.fn(args)
    except (ConfigSpecError, ExportError, ProvenanceError, StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # an output place that fails midway: named with its cause, in one line
        from .store.files import os_error_line
        print(f"error: {os_error_line(exc, exc.filename or '.')}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
