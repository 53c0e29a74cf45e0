"""The study's findings, checked on this run: each decided by paired differences with intervals
(never by a point estimate, never by two marginal intervals compared by eye), with one of the
verdicts *holds*, *partly*, *does not hold*, *inconclusive* (the data cannot tell) or *not
measured* (the run lacks the points, or a compared model is a constant predictor).

The findings ("On Fairness of Task Arithmetic"): (a) task addition keeps accuracy near FFT and
LoRA; (b) its DPD and EOD fall below FFT's and LoRA's; (c) injecting a subgroup's vector into FFT
moves fairness in a group-dependent way; (d) no method is fairest for every subgroup; (e) how far
DPD and EOD can move along a task vector is bounded by the scaling λ and the vector's norm
(:mod:`.bound`).

Every difference is paired within a seed (one set of example resamples shared by every
configuration of that seed) and two-level across seeds (:mod:`taskfair.metrics.inference`).
Each rule's error rate is measured on synthetic runs whose truth is known
(:mod:`.calibration`, ``bench/bench_findings.py``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from ..metrics.inference import ALPHA, N_BOOT_TESTS, Interval, PointSet, contrast, holm, slope_weights
from ..store.files import StoreError
from ..store.results import RunResults
from .bound import scaling_bound
from .evidence import degenerate_keys, point_key, point_sets

__all__ = ["Finding", "findings", "NEAR_ACCURACY", "MATERIAL", "VERDICTS", "CONSTANT",
           "FINDINGS_BOOT"]

NEAR_ACCURACY = 0.02   # "near": task addition's accuracy at most this far below FFT's and LoRA's
MATERIAL = 0.02        # a change in DPD/EOD over an injection grid smaller than this is no change
VERDICTS = ("holds", "partly", "does not hold", "inconclusive", "not measured")
CONSTANT = "not measured: a compared model is a constant predictor"
METHODS = ("FFT", "LoRA", "task addition")


@dataclass(frozen=True)
class Finding:
    key: str        # a | b | c | d | e
    claim: str      # the study's finding, in one sentence
    verdict: str    # one of VERDICTS
    evidence: str   # the test, the differences with their intervals, the correction
    page: str       # the dashboard page that shows it
    tests: tuple[dict, ...] = field(default=())   # one row per comparison: what, estimate, low, high, p, p_holm


def _row(what: str, iv: Interval, p: float, **extra) -> dict:
    return {"comparison": what, "estimate": iv.estimate, "low": iv.low, "high": iv.high, "p": p,
            "seeds": iv.seeds, "note": "; ".join(iv.notes), **extra}


def _p(p: float) -> str:
    """A p-value for reading: never 0 (a bootstrap p-value is at least 1 / (B + 1))."""
    return "n/a" if not np.isfinite(p) else f"{p:.3f}" if p >= 0.001 else "<0.001"


def _notes(ivs, alpha: float = ALPHA) -> str:
    ivs = list(ivs)
    notes = sorted({n for iv in ivs for n in iv.notes})
    out = f" Intervals: {'; '.join(notes)}." if notes else ""
    b = max((len(iv.reps) for iv in ivs), default=0)
    if b and len(ivs) * 2 / (b + 1) > alpha:   # Holm could never reject the smallest p-value
        out += (f" With {b} resamples no p-value is below {2 / (b + 1):.4f}, too coarse for {len(ivs)} "
                "Holm-corrected comparisons: raise n_boot.")
    return out


def _method_key(method: str, seed: int, chosen: dict) -> tuple | None:
    if method == "FFT":
        return point_key("fft")
    if method == "LoRA":
        return point_key("lora")
    lam = chosen.get(seed, chosen.get(str(seed)))
    return None if lam is None else point_key("uniform", "", lam)


def _diff(sets, a: str, b: str, chosen: dict, metric: str, group: str | None = None) -> Interval:
    def w(s: PointSet):
        ka, kb = _method_key(a, s.seed, chosen), _method_key(b, s.seed, chosen)
        if ka is None or kb is None or not (s.has(ka) and s.has(kb)):
            return None
        return {ka: 1.0, kb: -1.0}
    return contrast(list(sets.values()), w, metric, group=group)


def _degenerate_among(bad: dict, sets, keys_of) -> list[str]:
    """The degenerate points among each seed's compared keys, as ``what (seed s): reason``."""
    out = []
    for s in sets.values():
        for k in keys_of(s):
            if k is not None and (s.seed, k) in bad:
                out.append(f"{_name(k)} (seed {s.seed}): {bad[(s.seed, k)]}")
    return out


def _name(k) -> str:
    f, t, lam = k
    return {"fft": "FFT", "lora": "LoRA", "base": "θ0"}.get(f) or (
        f"task addition λ={lam:g}" if f == "uniform" else f"{f}:{t}:{lam:g}" if lam is not None else f"{f}:{t}")


def _methods_present(sets, chosen) -> bool:
    return any(all(_method_key(m, s.seed, chosen) is not None and s.has(_method_key(m, s.seed, chosen))
                   for m in METHODS) for s in sets.values())


def _accuracy(sets, chosen, bad, alpha) -> Finding:
    claim = "Task addition keeps accuracy near full fine-tuning and LoRA."
    if not _methods_present(sets, chosen):
        return Finding("a", claim, "not measured", "the run lacks FFT, LoRA or the uniform sweep", "Overview")
    gone = _degenerate_among(bad, sets, lambda s: [_method_key(m, s.seed, chosen) for m in METHODS])
    if gone:
        return Finding("a", claim, CONSTANT, "; ".join(gone), "Overview")
    ivs = {b: _diff(sets, "task addition", b, chosen, "accuracy") for b in ("FFT", "LoRA")}
    # non-inferiority of each (intersection–union: "near both" needs both, at α each)
    p_near = [ivs[b].p_at_most(-NEAR_ACCURACY) for b in ivs]
    p_far = holm([ivs[b].p_at_least(-NEAR_ACCURACY) for b in ivs])
    if all(p <= alpha for p in p_near):
        verdict = "holds"
    elif np.nanmin(p_far) <= alpha:
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    rows = tuple(_row(f"accuracy: task addition − {b}", ivs[b], pn, p_far_holm=pf, margin=-NEAR_ACCURACY)
                 for b, pn, pf in zip(ivs, p_near, p_far))
    ev = ("accuracy, task addition minus " + "; minus ".join(f"{b}: {ivs[b].text(notes=False)}" for b in ivs)
          + f". Near means no more than {NEAR_ACCURACY} below each: one-sided paired bootstrap tests at "
          f"{alpha:.0%} against −{NEAR_ACCURACY} (non-inferiority, p = "
          + ", ".join(_p(p) for p in p_near) + "; both must pass, so no correction), and "
          f"'further below' tests Holm-corrected (p = " + ", ".join(_p(p) for p in p_far) + ")."
          + _notes(ivs.values()))
    return Finding("a", claim, verdict, ev, "Overview", rows)


def _healthy_uniform(s: PointSet, bad) -> list[tuple]:
    ks = [k for k in s.keys if k[0] == "uniform" and (s.seed, k) not in bad]
    return sorted(ks, key=lambda k: k[2])


def _fairness(sets, chosen, bad, alpha) -> Finding:
    claim = "Task addition has lower DPD and EOD than full fine-tuning and LoRA."
    if not _methods_present(sets, chosen):
        return Finding("b", claim, "not measured", "the run lacks FFT, LoRA or the uniform sweep", "Sweep")
    gone = _degenerate_among(bad, sets, lambda s: [_method_key(m, s.seed, chosen) for m in METHODS])
    if gone:
        return Finding("b", claim, CONSTANT, "; ".join(gone), "Sweep")
    names = {"worst_dpd": "worst DPD", "worst_eod": "worst EOD"}
    ivs = {(m, b): _diff(sets, "task addition", b, chosen, m) for m in names for b in ("FFT", "LoRA")}
    ivs = {k: v for k, v in ivs.items() if v.defined}
    if not ivs:
        return Finding("b", claim, "not measured", "no DPD/EOD defined for these methods", "Sweep")
    p = [iv.p_two_sided() for iv in ivs.values()]
    adj = holm(p)
    lower = [a <= alpha and iv.estimate < 0 for a, iv in zip(adj, ivs.values())]
    higher = [a <= alpha and iv.estimate > 0 for a, iv in zip(adj, ivs.values())]
    if all(lower) and len(ivs) == 4:
        verdict = "holds"
    elif any(lower):
        verdict = "partly"
    elif any(higher):
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    rows = [_row(f"{names[m]}: task addition − {b}", iv, pp, p_holm=a)
            for ((m, b), iv), pp, a in zip(ivs.items(), p, adj)]
    # the trend: the least-squares slope over the healthy points of the uniform sweep
    trend = []
    for m in names:
        def w(s: PointSet):
            ks = _healthy_uniform(s, bad)
            return dict(zip(ks, slope_weights([k[2] for k in ks]))) if len({k[2] for k in ks}) >= 2 else None
        iv = contrast(list(sets.values()), w, m)
        if iv.defined:
            trend.append(f"{names[m]} {iv.text(notes=False)} per unit λ")
            rows.append(_row(f"{names[m]}: slope over the uniform sweep (per unit λ)", iv, iv.p_two_sided(),
                             p_holm=float("nan")))
    left = sorted({_name(k) for s in sets.values() for k in s.keys if k[0] == "uniform" and (s.seed, k) in bad})
    ev = ("at the λ chosen on validation, task addition minus "
          + "; ".join(f"{b} in {names[m]}: {iv.text(notes=False)}" for (m, b), iv in ivs.items())
          + f" — two-sided paired bootstrap tests, Holm-corrected over {len(ivs)} (p = "
          + ", ".join(_p(a) for a in adj) + f"); significantly lower in {sum(lower)}, higher in "
          f"{sum(higher)} of {len(ivs)}."
          + (f" Trend over the sweep: {'; '.join(trend)}" if trend else "")
          + (f" (constant predictors left out of the trend: {', '.join(left)})" if left else "")
          + ("." if trend else "") + _notes(ivs.values()))
    return Finding("b", claim, verdict, ev, "Sweep", tuple(rows))


def _injection(sets, groups, bad, alpha) -> Finding:
    claim = "Injecting a subgroup's vector into FFT moves fairness in a group-dependent way."
    fft = point_key("fft")
    if not any(k[0] == "inject" for s in sets.values() for k in s.keys):
        return Finding("c", claim, "not measured", "the run evaluated no injections", "Heatmaps")
    gone = _degenerate_among(bad, sets, lambda s: [fft])
    if gone:
        return Finding("c", claim, CONSTANT, "; ".join(gone), "Heatmaps")
    tests, left = {}, set()
    for g in groups:
        def w(s: PointSet, g=g):
            ks = [k for k in s.keys if k[0] == "inject" and k[1] == g]
            left.update(_name(k) for k in ks if (s.seed, k) in bad)
            ks = [k for k in ks if (s.seed, k) not in bad]
            lams = sorted({k[2] for k in ks} | {0.0})
            if len(lams) < 2 or not s.has(fft):
                return None
            # FFT is the injection at λ = 0; the effect is the change over the grid (slope × range)
            pts = {0.0: fft, **{k[2]: k for k in ks}}
            sw = slope_weights(lams) * (max(lams) - min(lams))
            return {pts[lam]: wt for lam, wt in zip(lams, sw)}
        own = f"{g}'" if g.endswith("s") else f"{g}'s"
        for metric, kind, grp in (("worst_dpd", "worst DPD", None), ("worst_eod", "worst EOD", None),
                                  ("dpd", f"{own} own DPD", g), ("eod", f"{own} own EOD", g)):
            iv = contrast(list(sets.values()), w, metric, group=grp)
            if iv.defined:
                tests[(g, metric, "own" if grp else "worst")] = (kind, iv)
    if len({k[0] for k in tests}) < 2:
        return Finding("c", claim, "not measured", "injections of fewer than two subgroups to compare", "Heatmaps")
    p = [iv.p_two_sided() for _, iv in tests.values()]
    adj = holm(p)
    sig = {k: (np.sign(iv.estimate) if a <= alpha else 0) for (k, (_, iv)), a in zip(tests.items(), adj)}
    opposite = []
    for metric in ("worst_dpd", "worst_eod", "dpd", "eod"):
        kind = "own" if metric in ("dpd", "eod") else "worst"
        up = [k[0] for k, v in sig.items() if k[1] == metric and k[2] == kind and v > 0]
        down = [k[0] for k, v in sig.items() if k[1] == metric and k[2] == kind and v < 0]
        if up and down and set(up) | set(down) and any(u != d for u in up for d in down):
            opposite.append(f"{metric.replace('_', ' ')}: up for {', '.join(up)}, down for {', '.join(down)}")
    # no change: every effect's 90% interval inside ±MATERIAL (two one-sided tests each)
    flat = all(iv.p_at_most(-MATERIAL) <= alpha and iv.p_at_least(MATERIAL) <= alpha for _, iv in tests.values())
    if opposite:
        verdict = "holds"
    elif any(sig.values()):
        verdict = "partly"
    elif flat:
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    rows = tuple(_row(f"inject {k[0]}: change of {kind} over the grid", iv, pp, p_holm=a)
                 for (k, (kind, iv)), pp, a in zip(tests.items(), p, adj))
    shown = sorted(zip(tests.items(), adj), key=lambda x: x[1])[:6]
    ev = ("change from FFT over the injection grid (least-squares slope × the grid's range, paired): "
          + "; ".join(f"inject {k[0]}, {kind}: {iv.text(notes=False)} (Holm p {_p(a)})" for (k, (kind, iv)), a in shown)
          + (f"; … {len(tests) - len(shown)} more" if len(tests) > len(shown) else "")
          + f". Two-sided tests, Holm-corrected over {len(tests)}; significant: {sum(bool(v) for v in sig.values())}"
          + (f"; opposite directions — {'; '.join(opposite)}" if opposite else "")
          + (f"; every change within ±{MATERIAL}" if flat else "")
          + (f". Constant predictors left out: {', '.join(sorted(left))}" if left else "") + "."
          + _notes([iv for _, iv in tests.values()]))
    return Finding("c", claim, verdict, ev, "Heatmaps", rows)


def _no_single_winner(sets, chosen, groups, bad, alpha) -> Finding:
    claim = "No method is the fairest for every subgroup."
    if not _methods_present(sets, chosen):
        return Finding("d", claim, "not measured", "the run lacks FFT, LoRA or the uniform sweep", "Overview")
    gone = _degenerate_among(bad, sets, lambda s: [_method_key(m, s.seed, chosen) for m in METHODS])
    if gone:
        return Finding("d", claim, CONSTANT, "; ".join(gone), "Overview")
    tests = {}
    for g in groups:
        for metric in ("dpd", "eod"):
            for a, b in combinations(METHODS, 2):
                iv = _diff(sets, a, b, chosen, metric, group=g)
                if iv.defined:
                    tests[(g, metric, a, b)] = iv
    cells = sorted({(g, m) for g, m, _, _ in tests})
    if len({g for g, _ in cells}) < 2:
        return Finding("d", claim, "not measured", "fewer than two subgroups with a DPD or EOD", "Overview")
    adj = dict(zip(tests, holm([iv.p_two_sided() for iv in tests.values()])))
    worse = {c: set() for c in cells}     # methods significantly worse than another, per (subgroup, metric)
    best = {c: set() for c in cells}      # a method significantly better than both others
    beats = {}
    for (g, metric, a, b), iv in tests.items():
        if adj[(g, metric, a, b)] <= alpha:
            loser, winner = (a, b) if iv.estimate > 0 else (b, a)
            worse[(g, metric)].add(loser)
            beats.setdefault((g, metric, winner), set()).add(loser)
    for (g, metric, w), losers in beats.items():
        if len(losers) == len(METHODS) - 1:
            best[(g, metric)].add(w)
    sets_ok = {c: [m for m in METHODS if m not in worse[c]] for c in cells}
    common = [m for m in METHODS if all(m in s for s in sets_ok.values())]
    always_best = [m for m in METHODS if all(m in best[c] for c in cells)]
    if not common:
        verdict = "holds"
    elif always_best:
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    rows = tuple(_row(f"{g} {metric.upper()}: {a} − {b}", iv, iv.p_two_sided(), p_holm=adj[(g, metric, a, b)])
                 for (g, metric, a, b), iv in tests.items())
    ev = ("per subgroup and metric, the methods not significantly worse than another (pairwise paired "
          f"differences, two-sided, Holm-corrected over {len(tests)}): "
          + "; ".join(f"{g} {m.upper()} → {', '.join(s) or 'none'}" for (g, m), s in sets_ok.items())
          + (f". In every set: {', '.join(common)}" if common else ". No method is in every set")
          + (f"; significantly fairest everywhere: {', '.join(always_best)}" if always_best else "") + "."
          + _notes(tests.values()))
    return Finding("d", claim, verdict, ev, "Overview", rows)


FINDINGS_BOOT = N_BOOT_TESTS


def findings(results: RunResults, *, split: str = "test", n_boot: int = FINDINGS_BOOT, alpha: float = ALPHA,
             bound: bool = True) -> list[Finding]:
    """The five findings on ``split``: (a)–(d) from paired differences with intervals over the
    examples (and seeds), (e) the scaling bound against the measured curves (``bound=False``, or a
    run without stored task vectors: *not measured*)."""
    sets = point_sets(results, split=split, n_boot=n_boot, families=("fft", "lora", "uniform", "inject"))
    chosen = {int(k): float(v) for k, v in results.summary.get("chosen_lambda", {}).items()}
    bad = degenerate_keys(results)
    out = [_accuracy(sets, chosen, bad, alpha), _fairness(sets, chosen, bad, alpha),
           _injection(sets, results.groups, bad, alpha), _no_single_winner(sets, chosen, results.groups, bad, alpha)]
    out.append(_bound(results, split=split) if bound else
               Finding("e", BOUND_CLAIM, "not measured", "the bound was not computed", "Sweep"))
    return out


VACUOUS = 0.5   # an envelope wider than this (median, in DPD/EOD) excludes too little for (e) to hold
BOUND_CLAIM = ("How far a subgroup's DPD and EOD can move along a task vector is bounded by the scaling λ "
               "and the vector's norm.")


def _bound(results: RunResults, *, split: str = "test", norms: dict[int, dict] | None = None) -> Finding:
    """Finding (e): the bound checked against every measured point of every path on ``split``."""
    try:
        t = scaling_bound(results, split=split, norms=norms)
    except (StoreError, OSError, KeyError) as e:
        return Finding("e", BOUND_CLAIM, "not measured", f"the run's task vectors cannot be read ({e})", "Sweep")
    t = t[(t.lam != t.ref_lam) & t.measured.notna()] if len(t) else t
    if not len(t):
        return Finding("e", BOUND_CLAIM, "not measured", "no path with two stored points and a vector norm", "Sweep")
    inside = t.inside.astype(bool)
    share = float(inside.mean())
    out = t[~inside]
    moved = t.measured.sub(t.reference).abs()
    width = float((t.upper - t.lower).median())
    # the bound's claim about norms: a larger displacement λ‖τ‖ lets DPD/EOD move further
    rank = np.corrcoef(t.displacement.rank(), moved.rank())[0, 1] if moved.nunique() > 1 else float("nan")
    if share < 0.5:
        verdict = "does not hold"
    elif share < 1.0:
        verdict = "partly"
    else:   # inside everywhere: informative only if the envelope excludes something
        verdict = "holds" if width <= VACUOUS else "inconclusive"
    ks = f"{t.K.min():.3g}–{t.K.max():.3g}" if t.K.nunique() > 1 else f"{t.K.iloc[0]:.3g}"
    norms_txt = "; ".join(f"‖{'Σ τ' if f == 'uniform' else 'τ_' + g}‖ = {n:.3g}"
                          for (f, g), n in t.groupby(["family", "target"]).norm.first().items() if f != "inject")
    ev = (f"{share:.1%} of {len(t)} measured points (every path, subgroup, DPD and EOD on {split}) lie inside the "
          f"envelope allowed from each path's reference point, with K = {ks} (per path, the largest margin change "
          f"per unit of λ‖τ‖ on the other paths, on validation); {norms_txt}. Median envelope width {width:.2f}"
          + (f" (wider than {VACUOUS}: it excludes too little to test anything)" if width > VACUOUS else "")
          + f"; the envelope is used {t.used.median():.0%} at the median (measured change / the bound's reach); "
          f"rank correlation of λ‖τ‖ with the measured change {rank:+.2f}.")
    if len(out):
        worst = out.assign(excess=np.maximum(out.measured - out.upper, out.lower - out.measured)).nlargest(3, "excess")
        ev += (" Leaves the envelope at " + "; ".join(
            f"{r.family}{':' + r.target if r.target else ''} λ={r.lam:g} {r.group} {r.metric.upper()} {r.measured:.3f} "
            f"outside [{r.lower:.3f}, {r.upper:.3f}]" for r in worst.itertuples())
            + ": there K from the other paths on validation is not a bound on this run.")
    return Finding("e", BOUND_CLAIM, verdict, ev, "Sweep")
