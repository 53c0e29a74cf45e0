"""Guided tour: the study's findings one at a time, each with this run's verdict and the chart that
shows it, for an audience that has not read the paper. Next / Back buttons, the arrow keys (← →),
and ?step=N in the URL."""
from __future__ import annotations

import streamlit as st

from taskfair.config.values import NumberError, parse_number
from ui import charts, common, loaders

present, root, run_id, mtime, res, split, groups = common.page("Guided tour")
st.markdown(common.PRESENT_CSS, unsafe_allow_html=True)  # a tour is always shown without chrome

found = {f.key: f for f in loaders.findings(root, run_id, mtime, split)}
STEPS = ["intro", "a", "b", "c", "d", "e", "end"]
_VERDICT = {"holds": "holds on this run", "partly": "holds in part on this run",
            "does not hold": "does not hold on this run", "not measured": "is not measured by this run",
            "inconclusive": "cannot be decided on this run: the differences are within the noise"}
_PLAIN = {
    "a": "Merging the subgroup models' changes into the base model is about as accurate as training one "
         "model on all the data (FFT) or a cheap adapter (LoRA).",
    "b": "As the subgroup vectors are added with a larger weight λ, the gaps between each subgroup and the "
         "rest — in who gets flagged (DPD) and in error rates (EOD) — end up smaller than FFT's and LoRA's.",
    "c": "Adding one subgroup's vector to the FFT model does not move every subgroup the same way: some "
         "gaps shrink, others grow.",
    "d": "Which method is fairest depends on the subgroup you look at: there is no single winner.",
    "e": "How far the gaps can move when a vector is scaled is limited: only comments the model is unsure "
         "about can change their label, and how many can depends on how far the weights move (λ times the "
         "vector's size). The band shows that limit; the line is what happened.",
}

try:   # the library's strict reader (int("1_0") would be 10)
    step = min(max(int(parse_number(st.query_params.get("step", "0"), what="?step", integer=True)), 0),
               len(STEPS) - 1)
except NumberError:
    step = 0


def go(to: int) -> None:
    st.query_params["step"] = str(to)


nav = st.columns([1, 6, 1])
nav[0].button("◀ Back", key="tour_back", on_click=go, args=(step - 1,), disabled=step == 0,
              shortcut="Left", width="stretch")
nav[2].button("Next ▶", key="tour_next", on_click=go, args=(step + 1,), disabled=step == len(STEPS) - 1,
              shortcut="Right", type="primary", width="stretch")
nav[1].progress((step + 1) / len(STEPS), text=f"Step {step + 1} of {len(STEPS)} · ← → to move")

name = STEPS[step]
if name == "intro":
    st.title("Is a merged model fairer?")
    st.markdown(
        f"A classifier for **{res.config['dataset']['name']}** comments, from the model `{res.config['model']}`, "
        f"judged separately on each subgroup: **{', '.join(groups)}**.\n\n"
        "Three ways to train it:\n"
        "- **FFT** — fine-tune the whole model on all the data;\n"
        "- **LoRA** — train a small adapter on all the data;\n"
        "- **task addition** — fine-tune one model per subgroup, take each one's change of weights "
        "(its *task vector* τ), and add them to the base model: θ = θ0 + λ Σ τ.\n\n"
        "Fairness is measured per subgroup against the rest of the data: **DPD** (the gap in how often "
        "comments are flagged) and **EOD** (the gap in error rates). Lower is fairer.\n\n"
        "The study makes four claims and states one bound. The next pages check each one on this run; a "
        "claim *holds* only when the difference behind it is larger than the noise of the examples "
        "(and of the seeds), and is *inconclusive* when it is not.")
elif name == "end":
    st.title("Every configuration at once")
    unf = "worst_dpd"
    pts = loaders.frontier_points(root, run_id, mtime, split, unf)
    st.plotly_chart(charts.frontier(pts, unf), width="stretch", key="tour_frontier")
    st.markdown("Each point is a model: up is more accurate, left is fairer. The circled points are the "
                "best trade-offs. **Try it yourself:** [Remix](remix) moves one λ per subgroup and shows "
                "the effect at once; [Export](export) writes the model you choose.")
else:
    f = found.get(name)
    key = f.verdict if f else "not measured"
    st.title(f"({name}) {f.claim if f else ''}")
    st.markdown(f"{common.verdict_badge(key)}\n\n**In plain words:** {_PLAIN[name]}\n\n"   # (a finished run)
                f"**This claim {_VERDICT.get(key, key)}.** "
                f"<small>{f.evidence if f else ''}</small>", unsafe_allow_html=True)
    if name in ("a", "d"):
        comp = loaders.compare_methods(root, run_id, mtime, split)
        metric = "accuracy" if name == "a" else "dpd"
        st.plotly_chart(charts.method_bars(comp[comp.metric == metric]), width="stretch", key=f"tour_{name}")
        st.caption(f"{charts.NAMES[metric]} per subgroup and method ({split} split). " + charts.ERRORS)
    elif name == "e":
        bound = loaders.scaling_bound(root, run_id, mtime, split)
        if len(bound):
            target = res.worst_subgroup
            part = bound[(bound.family == "inject") & (bound.target == target) & (bound.group == target)]
            if not len(part):
                part = bound[(bound.family == "uniform") & (bound.group == bound.group.iloc[0])]
            st.plotly_chart(charts.bound_envelope(part, "dpd"), width="stretch", key="tour_e")
            st.caption(f"DPD of **{part.group.iloc[0]}** as its vector is "
                       + ("injected into FFT" if part.family.iloc[0] == "inject" else "added uniformly")
                       + "; the band is what the bound allows from the reference point.")
    elif name == "b":
        sweep = loaders.uniform_sweep(root, run_id, mtime, split, False)
        st.plotly_chart(charts.sweep_lines(sweep, ["worst_dpd", "worst_eod"]), width="stretch", key="tour_b")
        st.caption("The worst subgroup's DPD and EOD as λ grows; dashed: FFT, dotted: LoRA. " + charts.ERRORS)
    else:
        target = res.worst_subgroup
        grid = loaders.family_grid(root, run_id, mtime, "inject", target, split)
        rows = ["FFT"] + sorted({r for r in grid.row if r != "FFT"}, key=lambda r: float(r.split("=")[1]))
        st.plotly_chart(charts.heatmap(grid, "dpd", rows=rows), width="stretch", key="tour_c")
        st.caption(f"DPD per subgroup (columns) as the vector of **{target}** (the worst subgroup under FFT) "
                   "is added to FFT with a growing λ (rows). Red: a larger gap (less fair); green: a smaller one.")
