"""Overview: the run, its subgroups, and FFT vs LoRA vs task addition per subgroup (Figure 1)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from taskfair import TRIVIAL
from ui import charts, common, loaders

present, root, run_id, mtime, res, split, groups = common.page("Overview", needs=("eval/reference",))
cfg, summary = res.config, res.summary

st.title("Fairness of task arithmetic")
if present:
    st.markdown("[▶ Start the guided tour](tour) — the findings one at a time, each with its chart (← → to move)")
st.caption(f"Run **{common.plain(run_id)}** · model {common.plain(cfg['model'])} · dataset {common.plain(cfg['dataset']['name'])} · "
           f"{len(res.seeds)} seed(s) · subgroups: {', '.join(res.groups)}")

for w in loaders.health_warnings(root, run_id, mtime):
    seeds = ", ".join(map(str, w["seeds"]))
    st.error(f"**{w['method']} is degenerate** (seed {seeds}): {w['reason']}. Its DPD and EOD below are "
             f"those of a model that learned (next to) nothing ({TRIVIAL}), not evidence of fairness. Train longer: "
             "`--set train.min_steps=200` (or `subgroup_train.min_steps`), or raise the learning rate.")

st.subheader(f"The study's findings, checked on this run ({split})")
_URL = {"Overview": "./", "Sweep": "sweep", "Heatmaps": "heatmaps", "Frontier": "frontier"}
for f in loaders.findings(root, run_id, mtime, split):
    st.markdown(f"**({f.key}) {f.claim}** — {common.verdict_badge(f.verdict, finished=res.finished)}  \n"
                f"<small>{f.evidence} · [see {f.page}]({_URL.get(f.page, './')})</small>", unsafe_allow_html=True)
st.caption("Each verdict is decided by paired differences: the same bootstrap resamples of the evaluation "
           "examples for every configuration of a seed, and across seeds a two-level interval that includes "
           "seed-to-seed variation; several comparisons behind one verdict are Holm-corrected. *Inconclusive*: "
           "the intervals cannot tell. Task addition is θ0 + λ Σ τ_g at the λ chosen on validation. "
           "The rules' error rates on synthetic runs are in BENCHMARKS.md (false *holds* ≤ 5% under each null)."
           + ("" if len(res.seeds) > 1 else " **One seed: seed-to-seed variation is not measured** — `make precompute-seeds` "
              "runs the embedded default with three seeds, for intervals that include it."))
with st.expander("The comparisons behind each verdict"):
    rows = loaders.findings_comparisons(root, run_id, mtime, split)
    if len(rows):
        common.table(rows, f"{run_id}-findings-{split}", present=present)

c = st.columns(4)
head = res.metrics
fft_acc = head[(head.family == "fft") & (head.split == split) & (head.group == "(all)")
               & (head.metric == "accuracy")].value.mean()
c[0].metric("FFT accuracy", f"{fft_acc:.3f}",
            help=f"Majority-class baseline on test: {summary['majority_baseline_test']:.3f}")
c[1].metric("λ chosen on validation", ", ".join(f"{v:.1f}" for v in summary["chosen_lambda"].values()) or "pending")
c[2].metric("Worst subgroup under FFT", summary["worst_subgroup_fft"] or "—",
            help="Highest mean of DPD and EOD under FFT on validation (excluding 'other').")
c[3].metric("Seeds", len(res.seeds))

st.subheader(f"FFT vs LoRA vs task addition, per subgroup ({split})")
comp = loaders.compare_methods(root, run_id, mtime, split)
if not res.finished:
    waiting = [m for m, fam in (("LoRA", "lora"), ("task addition", "uniform")) if fam not in set(res.metrics.family)]
    if waiting:
        st.caption(f":material/hourglass_top: Still to come: {' and '.join(waiting)} (joining this comparison as soon as evaluated).")
st.plotly_chart(charts.method_bars(comp), width="stretch")
st.caption("Task addition: θ0 + λ Σ τ_g at the λ with the highest validation accuracy (per seed). "
           + charts.ERRORS + " DPD and EOD compare the "
           "subgroup with the rest of the data.")
common.explain_undefined(comp)
common.table(comp, f"{run_id}-methods-{split}", present=present)

if res.finished:
    st.subheader(f"Against the standard fix: per-group thresholds ({split})")
    head = loaders.methods_headline(root, run_id, mtime, split)
    common.table(head, f"{run_id}-thresholds-{split}", present=present)
    for unf in ("worst_dpd", "worst_eod"):
        verdict = loaders.thresholds_verdict(root, run_id, mtime, split, unf)
        if verdict:
            (st.warning if verdict.startswith("Negative") else st.info)(verdict)
    st.caption("fairlearn's ThresholdOptimizer (prefit, maximising accuracy) fitted on validation over each "
               "method's margins, with the example's subgroup as the sensitive feature (an example in several "
               "subgroups is its own category), for demographic parity (DP) or equalized odds (EO). "
               "**Thresholds need the subgroup at prediction time; a merged model does not.** "
               "[See them on the Frontier](frontier).")

st.subheader("Subgroups")
sizes = res.data[list(res.groups)].sum().rename("rows").to_frame()
sizes["positive rate"] = [res.data.loc[res.data[g], "label"].mean() for g in res.groups]
sizes = sizes.reset_index(names="subgroup")
common.table(sizes, f"{run_id}-subgroups", present=present)
if present:
    st.bar_chart(sizes.set_index("subgroup")["rows"])
report = loaders.data_report(root, run_id, mtime)
if report:
    for note in report["notes"]:
        st.info(f"Data: {common.plain(note, 600)}")
    dropped = {why: n for why, n in report["dropped"].items() if n}
    if dropped and not present:
        with st.expander(f"Rows dropped while loading the data ({sum(dropped.values())})"):
            st.table(pd.DataFrame({"reason": list(dropped), "rows": list(dropped.values())}))

if len(groups) >= 3:
    st.subheader("Effect of a minimum subgroup size")
    effect = loaders.min_size_effect(root, run_id, mtime, split)
    st.plotly_chart(charts.min_size_lines(effect), width="stretch")
    st.caption("Worst-case DPD and EOD over the subgroups with at least this many rows (as "
               "`dataset.min_group_size` counts them), from the stored per-subgroup metrics (mean over "
               "seeds). Small subgroups have noisy rates; where a line drops as the threshold rises, the "
               "headline was carried by the small groups. Hover for the groups kept.")
