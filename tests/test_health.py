"""A model that learned nothing is not reported as fair: constant predictors are marked
degenerate everywhere, and train.min_steps gives small subgroups enough steps to learn."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskfair import degenerate_points, is_degenerate, mark_degenerate
from taskfair.metrics import health_rows

GOOD = ["lovely", "kind", "great", "helpful", "calm", "friendly", "bright", "honest"]
BAD = ["awful", "stupid", "hateful", "ugly", "nasty", "rude", "dirty", "evil"]
FILLER = ["people", "they", "are", "always", "very", "some", "those", "often", "really", "here"]


def _point_table(share_val, acc_val, share_test, majority=0.7):
    pts = pd.DataFrame({"seed": [13], "family": ["uniform"], "target": [""], "lam": [0.5]})
    rows = []
    for split, share in (("val", share_val), ("test", share_test)):
        n = 100
        pred = np.zeros((1, n), bool)
        pred[0, :int(round(share * n))] = True
        labels = np.r_[np.ones(int(majority * n)), np.zeros(n - int(majority * n))]
        rows.append(health_rows(pred, labels, pts.assign(split=split)))
        rows.append(pts.assign(split=split, group="(all)", metric="accuracy",
                               value=acc_val if split == "val" else 0.5, note=""))
    return mark_degenerate(pd.concat(rows, ignore_index=True))


@pytest.mark.parametrize("share_val, acc_val, share_test, bad", [
    (1.0, 0.70, 1.0, "predicts positive for 100% of val"),      # all positive
    (0.50, 0.70, 0.99, "predicts positive for 99% of test"),    # constant on test only
    (0.50, 0.69, 0.50, "does not beat the majority class"),     # varied but useless
    (0.60, 0.85, 0.55, ""),                                     # a real model
])
def test_constant_and_useless_points_are_marked(share_val, acc_val, share_test, bad):
    table = _point_table(share_val, acc_val, share_test)
    flags = table[table.metric == "degenerate"]
    assert len(flags) == 2 and flags.value.nunique() == 1
    found = degenerate_points(table)
    if bad:
        assert len(found) == 1 and bad in found.reason[0]
    else:
        assert found.empty


def test_one_prediction_vector():
    labels = np.r_[np.ones(70), np.zeros(30)].astype(bool)
    assert "positive for 100%" in is_degenerate(np.ones(100, bool), labels)
    assert is_degenerate(labels, labels) == ""


def _collapse_table(path):
    """About 600 short texts, 70% positive, three subgroups of ~200: each subgroup's fine-tune
    sees ~140 rows, 9 optimiser steps an epoch."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(600):
        label = int(rng.random() < 0.7)
        words = list(rng.choice(FILLER, size=5)) + [str(rng.choice(BAD if label else GOOD))]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label, "group": ("a", "b", "c")[i % 3]})
    pd.DataFrame(rows).to_csv(path, index=False)


def _run(tmp_path, name, min_steps):
    from precompute import load_profile, run_study
    from conftest import PICO_OVERRIDES
    csv = tmp_path / "data.csv"
    if not csv.exists():
        _collapse_table(csv)
    over = {**PICO_OVERRIDES, "name": name, "output_root": str(tmp_path), "dataset.name": "table",
            "dataset.path": str(csv), "dataset.group_column": "group", "dataset.subgroups": None,
            "dataset.max_rows": None, "train.epochs": 1, "train.min_steps": min_steps,
            "grids.probes": 2, "grids.methods": [], "eval.bootstrap": 0}
    logs = []
    result = run_study(load_profile("quick", over), progress=False, log=logs.append)
    return result, logs


def test_a_collapsed_run_is_flagged_and_min_steps_fixes_it(tmp_path, capsys):
    result, logs = _run(tmp_path, "short", 0)
    s, head = result.summary, result.headline
    collapsed = {d["model"] for d in s["degenerate_models"]}
    assert {"subgroup a", "subgroup b", "subgroup c"} <= collapsed, s["degenerate_models"]
    assert any("is degenerate" in line for line in logs)
    ta = head[head.method == "task addition (chosen λ)"].iloc[0]
    assert ta["degenerate"] == 1.0, head
    from precompute.__main__ import headline_text
    assert "trivial" in headline_text(head)
    _dashboard_says_so(tmp_path, "short")

    result, _ = _run(tmp_path, "long", 300)
    s = result.summary
    learned = {d["model"] for d in s["degenerate_models"]}
    assert not {"subgroup a", "subgroup b", "subgroup c"} & learned, s["degenerate_models"]
    table = result.run.metrics()
    # each subgroup's own model beats the majority class on its own validation rows
    own = table[(table.family == "subgroup") & (table.split == "val") & (table.group == table.target)]
    acc = own[own.metric == "accuracy"].set_index("target").value
    maj = own[own.metric == "majority_rate"].set_index("target").value
    assert len(acc) == 3 and (acc > maj.loc[acc.index]).all(), (acc, maj)


def test_validate_prints_the_steps_and_warns_when_few(tmp_path, capsys):
    from precompute.__main__ import main
    from conftest import PICO_OVERRIDES
    csv = tmp_path / "data.csv"
    _collapse_table(csv)
    sets = {**PICO_OVERRIDES, "dataset.name": "table", "dataset.path": str(csv), "dataset.group_column": "group",
            "dataset.subgroups": "null", "dataset.max_rows": "null", "train.epochs": 1, "train.min_steps": 0}
    argv = ["--validate", "--set", f"output_root={tmp_path}"]
    for k, v in sets.items():
        argv += ["--set", f"{k}={v if not isinstance(v, list) else '[' + ','.join(map(str, v)) + ']'}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "subgroup a" in out and "WARNING: only" in out and "min_steps" in out
    assert main(argv + ["--set", "train.min_steps=120"]) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out and "120 steps" in out


def _dashboard_says_so(root, run_id):
    """The Overview opens with a banner per collapsed model; the Frontier keeps degenerate points
    off the Pareto front; the HTML report lists them under its caveats."""
    import os
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from taskfair import load_results
    from taskfair.publishing.htmlreport import html_report
    app = Path(__file__).resolve().parent.parent
    old = os.environ.get("TASKFAIR_ARTIFACTS")
    os.environ["TASKFAIR_ARTIFACTS"] = str(root)
    try:
        at = AppTest.from_file(str(app / "app.py"), default_timeout=120)
        at.query_params["run"] = run_id
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        banners = [e.value for e in at.error if "is degenerate" in e.value]
        assert banners, [e.value for e in at.error]
        for b in banners:  # each seed named once ("seed 13", not "seed 13, 13, 13, …")
            named = b.split("(seed", 1)[1].split(")", 1)[0].replace(" ", "").split(",")
            assert len(named) == len(set(named)), b
        at = AppTest.from_file(str(app / "pages/4_frontier.py"), default_timeout=120)
        at.query_params["run"] = run_id
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        pts = at.dataframe[0].value
        assert pts.degenerate.any() and not (pts.degenerate & pts.on_front).any()
    finally:
        if old is None:
            os.environ.pop("TASKFAIR_ARTIFACTS", None)
        else:
            os.environ["TASKFAIR_ARTIFACTS"] = old
    html = html_report(load_results(root, run_id), ["fft"], n_boot=0)
    assert "is degenerate" in html
