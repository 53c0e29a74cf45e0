"""Command line: parse, build the config, call the library, report progress and a summary."""
from __future__ import annotations

import argparse
import os
import sys
import time



def _parse_set(items: list[str]) -> dict:
    from taskfair.config.values import parse_set_value
    out = {}
    for item in items:
        if "=" not in item:
            from taskfair.config import ConfigError
            raise ConfigError(f"--set expects key=value (e.g. --set train.epochs=2), got {item!r}")
        key, raw = item.split("=", 1)
        # read as a person means it: 1e-3 a number, `|` a separator, 0_3 and nan text (a numeric
        # field then refuses them by name), not as YAML or Python's float() would
        out[key.strip()] = parse_set_value(raw)
    return out


def _lone_cpu_launch() -> str | None:
    """``accelerate launch --cpu --num_processes N`` starts a single process (accelerate runs
    several CPU processes only through MPI); say so instead of silently running alone."""
    from accelerate.utils import str_to_bool
    asked_cpu = str_to_bool(os.environ.get("ACCELERATE_USE_CPU", "false") or "false")
    if asked_cpu and os.environ.get("MASTER_ADDR") and int(os.environ.get("WORLD_SIZE", "1")) == 1 \
            and "LOCAL_RANK" not in os.environ and "OMPI_COMM_WORLD_SIZE" not in os.environ \
            and "PMI_SIZE" not in os.environ:
        return ("accelerate launch --cpu starts one process whatever --num_processes says (it runs "
                "several CPU processes only through MPI, --mpirun_hostfile). To run N CPU processes "
                "with the gloo backend: torchrun --nproc_per_node N -m precompute …, or accelerate "
                "launch --multi_gpu --num_processes N -m precompute … on a host without CUDA "
                "(taskfair then forms a CPU group). For one process, drop --num_processes.")
    return None


def main(argv: list[str] | None = None, *, prog: str = "python -m precompute") -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from taskfair.config import ConfigError

    from .profiles import load_profile, profile_names

    ap = argparse.ArgumentParser(prog=prog, description=(
        "Train FFT, LoRA and one fine-tune per subgroup over seeds; store task vectors, margins "
        "for every λ point, and metrics. Resumes after the last finished job."))
    ap.add_argument("--config", default="quick",
                    help=f"a YAML file or a profile name ({', '.join(profile_names())})")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config field, e.g. --set train.epochs=2 --set seeds=[13,14]")
    ap.add_argument("--output-root", help="artifact root (overrides output_root)")
    ap.add_argument("--validate", action="store_true",
                    help="check the config, model spec and data, print the plan, train nothing")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    again = ap.add_mutually_exclusive_group()
    again.add_argument("--resume-anyway", action="store_true",
                       help="resume a run whose config differs only in settings that do not change results "
                            "(eval.batch_size); its stored config is kept")
    again.add_argument("--force-new", action="store_true",
                       help="a run of this name with another config is set aside (renamed "
                            "<name>.replaced-<time>, nothing deleted) and the run starts again")
    args = ap.parse_args(argv)

    problem = _lone_cpu_launch()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from taskfair.data import DataError
    from taskfair.models import ModelError
    from taskfair.store import StoreError
    try:
        overrides = _parse_set(args.set)
        if args.output_root:
            overrides["output_root"] = args.output_root
        cfg = load_profile(args.config, overrides)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2

    from .pipeline import run_study, training_plan, validate_study
    print(f"taskfair precompute · profile {cfg.name} · model {cfg.model} · data {cfg.dataset.name} "
          f"· seeds {list(cfg.seeds)} → {cfg.output_root}/{cfg.run_id}")
    try:
        data, splits = validate_study(cfg)
    except (DataError, ModelError, ConfigError) as exc:
        print(f"error before training: {exc}", file=sys.stderr)
        return 2
    if args.validate:
        print(data.report())
        from .plan import plan_points
        k = len(data.groups)
        for seed, sp in splits.items():
            points = len({p.key for job in plan_points(cfg, data.groups, seed).values() for p in job})
            print(f"seed {seed}: train {len(sp.train)}, val {len(sp.val)}, test {len(sp.test)}; "
                  f"{2 + k} fine-tunes (FFT, LoRA, {k} subgroups), {points} distinct evaluation points")
            for job in training_plan(cfg, data.groups, sp):
                print(f"  {job['fine_tune']:<22} {job['rows']:>6} rows  {job['steps']:>5} steps "
                      f"({job['epochs']:.1f} epochs)" + (f"  WARNING: {job['warning']}" if job["warning"] else ""))
        print("config is valid")
        return 0

    start = time.perf_counter()
    try:
        on_change = "resume" if args.resume_anyway else "new" if args.force_new else "refuse"
        result = run_study(cfg, progress=not args.no_progress, log=print, validated=(data, splits),
                           on_change=on_change)
    except (DataError, ModelError, ConfigError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # a write that failed midway (the disk filled, a size limit): finished jobs are kept
        from taskfair.store.files import os_error_line
        print(f"error: could not write {os_error_line(exc, exc.filename or cfg.output_root)}; finished jobs are "
              "kept, rerun the same command to resume", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: every finished job is stored; the one under way is redone
        print(f"\ninterrupted: the finished jobs are kept in {cfg.output_root}/{cfg.run_id}; run the same "
              "command again to resume", file=sys.stderr)
        return 130
    if result.summary is None:  # another process of a multi-process launch: the main one reports
        return 0
    result.run.verify()
    wall = time.perf_counter() - start
    print("\n== summary ==")
    for stage, secs in result.timings.items():
        print(f"  {stage:<9} {secs:8.1f} s")
    print(f"  total     {wall:8.1f} s   ({result.skipped_jobs} finished job(s) reused)")
    print(f"artifacts: {result.run.path.resolve()} (manifest verified)")
    s = result.summary
    print(f"chosen λ (highest validation accuracy): {s['chosen_lambda']}; "
          f"worst subgroup under FFT: {s['worst_subgroup_fft']}; "
          f"majority-class test accuracy: {s['majority_baseline_test']:.3f}")
    for note in s.get("notes", []):
        print(f"note: {note}")
    print("headline (test; mean over seeds):")
    print(headline_text(result.headline))
    for d in s.get("degenerate_models", []):
        print(f"warning: the {d['model']} fine-tune of seed {d['seed']} is degenerate ({d['reason']}); its "
              "fairness numbers say nothing. Train it longer: --set train.min_steps=200 "
              "(subgroup_train.min_steps for the subgroups), or raise the learning rate", file=sys.stderr)
    return 0


def headline_text(headline) -> str:
    """The headline table as text; a row whose model predicts one class in every seed shows
    "trivial" instead of fairness numbers (a constant predictor is trivially fair)."""
    from taskfair import HEADLINE_METRICS, TRIVIAL
    cols = ["method", *HEADLINE_METRICS]
    out = headline[cols].copy()
    for c in cols[1:]:
        out[c] = [f"{v:.3f}" for v in headline[c]]
    if "degenerate" in headline:
        for i, share in enumerate(headline["degenerate"]):
            if share >= 1:
                out.loc[i, ["worst_dpd", "worst_eod"]] = "trivial"
                out.loc[i, "method"] = f"{out.loc[i, 'method']} *"
            elif share > 0:
                out.loc[i, "method"] = f"{out.loc[i, 'method']} (*{share:.0%} of seeds)"
    text = out.to_string(index=False)
    if "degenerate" in headline and (headline["degenerate"] > 0).any():
        text += f"\n* degenerate ({TRIVIAL}: one class for ≥97% of examples, or no better than the majority class)"
    return text


def console() -> int:
    """The ``taskfair-precompute`` console script (``pip install -e .``)."""
    return main(prog="taskfair-precompute")


if __name__ == "__main__":
    sys.exit(main())
