"""Calibration of the findings' rules on synthetic runs whose truth is known (no model): how often
each finding says *holds* under its null (false holds) and under a planted effect (power), against
effect size, test-set size and number of seeds. Writes bench/results/findings.json (committed);
`python bench/report.py --section findings` renders its table into BENCHMARKS.md.

    python bench_findings.py [runs_null] [runs_power] [n_boot]

``n_boot`` defaults to the findings' own (4,000 resamples, as the dashboard and the report run them).
"""
from __future__ import annotations

import sys
import time

from common import machine, save

from taskfair.steering.calibration import SCENARIOS, Scenario, verdict_rates
from taskfair.steering.findings import FINDINGS_BOOT

RUNS_NULL = int(sys.argv[1]) if len(sys.argv) > 1 else 200
RUNS_POWER = int(sys.argv[2]) if len(sys.argv) > 2 else 100
N_BOOT = int(sys.argv[3]) if len(sys.argv) > 3 else FINDINGS_BOOT


def holds(df, finding) -> float:
    row = df[(df.finding == finding) & (df.verdict == "holds")]
    return float(row.share.sum()) if len(row) else 0.0


def main() -> None:
    cases = []
    # (finding, truth, scenario) — the null of (a) is task addition exactly NEAR below the others;
    # the null of (b)–(d) is every method the same predictor
    nulls = [("a", "accuracy 0.02 below (the margin)", SCENARIOS["accuracy boundary"]),
             ("b,c,d", "every method the same predictor", SCENARIOS["null"]),
             ("a,b,c,d", "task addition constant (predicts positive)", SCENARIOS["constant task addition"])]
    powers = []
    for b in (0.05, 0.10, 0.15):
        powers.append(("b", f"FFT and LoRA shift subgroup g0's rates by −{b:.2f} (its DPD and EOD up)",
                       Scenario(f"b {b}", bias={"fft": -b, "lora": -b})))
    for b in (0.05, 0.10):   # below 0.135, g0's own DPD, so the change stays one way along the grid
        powers.append(("c", f"injecting g0 / g2 shifts its own rates by +{b:.2f} at λ=1 (own DPD down / up)",
                       Scenario(f"c {b}", inject_bias={"g0": b, "g2": b})))
    for b in (0.10, 0.20):
        powers.append(("d", f"FFT worst on g0, LoRA on g1, task addition on g2 (shift {b:.2f})",
                       Scenario(f"d {b}", bias={"fft": {0: -b}, "lora": {1: b}, "uniform": {2: b}})))
    powers.append(("a", "task addition as accurate as FFT and LoRA", SCENARIOS["null"]))
    started = time.time()
    for kind, items, runs in (("null", nulls, RUNS_NULL), ("power", powers, RUNS_POWER)):
        for findings_, truth, sc in items:
            for n_test, seeds in ((500, 1), (2000, 1), (500, 3)):
                if kind == "null" and sc.name.startswith("constant") and (n_test, seeds) != (500, 1):
                    continue
                sc_run = sc if seeds == 1 else Scenario(**{**sc.__dict__, "seed_sd": 0.03})
                t = time.time()
                df = verdict_rates(sc_run, runs=runs if sc.name[:8] != "constant" else 50, n_test=n_test, seeds=seeds,
                                   start=10_000 * seeds + n_test, n_boot=N_BOOT)
                for f in findings_.split(","):
                    cases.append({"kind": kind, "finding": f, "truth": truth, "scenario": sc.name, "n_test": n_test,
                                  "seeds": seeds, "seed_sd": sc_run.seed_sd, "runs": int(df.runs.iloc[0]),
                                  "holds": holds(df, f),
                                  "verdicts": {v: float(s) for v, s in df[df.finding == f][["verdict", "share"]].values}})
                print(f"{kind:5s} {sc.name:24s} n={n_test:5d} seeds={seeds}: "
                      + ", ".join(f"({f}) holds {holds(df, f):.3f}" for f in findings_.split(","))
                      + f"  [{time.time() - t:.0f} s]", flush=True)
    save("findings", {"alpha": 0.05, "n_boot": N_BOOT, "runs_null": RUNS_NULL, "runs_power": RUNS_POWER,
                      "seconds": time.time() - started, "cases": cases,
                      "goal": "false holds ≤ 5% under every null; a constant predictor never holds"})


if __name__ == "__main__":
    machine()
    main()
