"""Property-based checks (hypothesis): generated tables, config overrides, configuration strings
and λ vectors. Every outcome is a valid result or a clear error (exit status 2, one line, no
traceback) — never another exception, never a non-finite number in a result."""
from __future__ import annotations

import math
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from precompute.__main__ import main
from taskfair import load_results
from taskfair.steering.configurations import VariantSpecError, parse_variant
from taskfair.steering.margins import config_margins
from taskfair.steering.estimate import RemixEstimator

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ---------------------------------------------------------------- generated tables

_NAMES = st.sampled_from(["female", "muslims", "black", "label", "text", "a b", "x;y", "x|y", "", " ",
                          "Ünïcode", "../up", "none", "NaN", "0", "a" * 70])
_LABELS = st.sampled_from(["0", "1", "1", "0", "2", "", "nan", "yes", "1.0", "-1", "0.5"])
_TEXT = st.text(alphabet=string.ascii_letters + " ,;|'\"é\u00fc\t", min_size=0, max_size=30)


def _cell(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


@st.composite
def tables(draw):
    """A table that validates, then a few of its cells (or its header, or its encoding) changed."""
    n = draw(st.integers(45, 90))
    groups = ["female", "muslims", "black"]
    rows = [[f"comment number {i} about things", str(i % 2), groups[(i // 2) % 3]] for i in range(n)]
    for _ in range(draw(st.integers(0, 4))):
        i, col = draw(st.integers(0, n - 1)), draw(st.integers(0, 2))
        rows[i][col] = draw([_TEXT, _LABELS, _NAMES][col])
    if draw(st.booleans()):  # a whole subgroup renamed, e.g. to a reserved or unsafe name
        name = draw(_NAMES)
        rows = [[t, l, name if g == "black" else g] for t, l, g in rows]
    header = draw(st.sampled_from(["text,label,group"] * 6 + ["txt,label,group", "text,group,label"]))
    body = header + "\n" + "".join(",".join(_cell(c) for c in r) + "\n" for r in rows)
    data = body.encode("utf-8")
    encoding = draw(st.sampled_from(["utf-8"] * 5 + ["latin-1-bytes", "empty", "header-only"]))
    if encoding == "latin-1-bytes":
        data = data.replace(b"comment number 1 ", b"comm\xe9nt number 1 ")
    elif encoding == "empty":
        data = b""
    elif encoding == "header-only":
        data = (header + "\n").encode()
    return data


def _table_args(root, csv):
    return ["--validate", "--set", "model=tiny-bert", "--set", "dataset.name=table", "--set", f"dataset.path={csv}",
            "--set", "dataset.group_column=group", "--set", "dataset.subgroups=null",
            "--set", f"output_root={root}"]


@settings(SETTINGS, max_examples=80)
@given(body=tables())
def test_any_table_is_validated_or_refused_in_one_line(tmp_path_factory, capsys, body):
    folder = tmp_path_factory.mktemp("table")
    csv = folder / "data.csv"
    csv.write_bytes(body)
    code = main(_table_args(folder / "art", csv))
    out = capsys.readouterr()
    event(f"exit {code}" + (f": {out.err[22:120]}" if code else ""))
    assert code in (0, 2), out.err
    assert "Traceback" not in out.err + out.out
    if code == 2:
        assert len(out.err.strip().splitlines()) == 1, out.err
    else:
        assert "config is valid" in out.out
    assert not (folder / "art").exists()  # validation writes nothing


# ---------------------------------------------------------------- config overrides

_GOOD = {"train.epochs": ["1", "2", "0.5"], "train.learning_rate": ["1e-3", "5e-5"], "train.batch_size": ["8", "16"],
         "train.min_steps": ["0", "10"], "seeds": ["[13]", "[13, 14]"], "grids.uniform": ["[0, 0.5, 1]", "[0.25]"],
         "grids.inject": ["[0, 1]"], "grids.methods": ["[]", "[ties]"], "dataset.max_rows": ["null", "200"],
         "dataset.test_size": ["0.2", "0.3"], "eval.precision": ["fp32", "bf16"], "model_dtype": ["float32", "bfloat16"],
         "name": ["other", "pico2"], "lora.r": ["4", "8"], "eval.bootstrap": ["0", "50"]}
_KEYS = st.sampled_from(sorted(_GOOD) + ["nonsense", "train.nonsense", "grids", "train"])
_BAD = st.one_of(st.integers(-3, 5).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.sampled_from(["", "null", "[]", "[13, 13]", "[0.5, 2]", "[-1]", "abc", "bf16", "[ties, x]",
                                  "{a: 1}", ".nan", "../x", "1e400", "[0.5, .inf]"]))


@st.composite
def overrides(draw):
    key = draw(_KEYS)
    if key in _GOOD and draw(st.integers(0, 2)):  # two thirds valid values, the rest anything
        return key, draw(st.sampled_from(_GOOD[key]))
    return key, draw(_BAD)


@settings(SETTINGS, max_examples=60)
@given(sets=st.lists(overrides(), min_size=1, max_size=3))
def test_any_override_is_validated_or_refused_in_one_line(tmp_path_factory, capsys, sets):
    from conftest import PICO_OVERRIDES
    import json
    root = tmp_path_factory.mktemp("cfg") / "art"
    argv = ["--validate", "--set", f"output_root={root}"]
    for k, v in PICO_OVERRIDES.items():
        argv += ["--set", f"{k}={json.dumps(v) if isinstance(v, list) else v}"]
    for k, v in sets:
        argv += ["--set", f"{k}={v}"]
    code = main(argv)
    out = capsys.readouterr()
    event(f"exit {code}")
    assert code in (0, 2) and "Traceback" not in out.err, out.err
    if code == 2:
        assert len(out.err.strip().splitlines()) == 1, out.err
    assert not root.exists()


# ---------------------------------------------------------------- configuration strings and λ


@pytest.fixture(scope="module")
def res(pico_store):
    return load_results(pico_store, "pico")


_NUM = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.floats(0, 1.5).map(lambda v: f"{v:.2f}"), st.sampled_from(["0.5", "1", "0", "x", "", "1e30", "-0.5"]))


@st.composite
def config_strings(draw):
    family = draw(st.sampled_from(["fft", "lora", "base", "subgroup", "uniform", "inject", "axis", "remix", "ties",
                                 "dare", "nonsense", ""]))
    group = draw(st.sampled_from(["female", "muslims", "black", "nobody", ""]))
    if family in ("uniform", "ties", "dare"):
        return f"{family}:{draw(_NUM)}"
    if family in ("inject", "axis"):
        return f"{family}:{group}:{draw(_NUM)}"
    if family == "subgroup":
        return f"subgroup:{group}"
    if family == "remix":
        return "remix:" + ",".join(draw(st.lists(_NUM, min_size=0, max_size=4)))
    return family + draw(st.sampled_from(["", ":", ":1"]))


@SETTINGS
@given(spec=config_strings())
def test_any_configuration_string_gives_finite_margins_or_a_clear_error(res, spec):
    try:
        cfg = parse_variant(spec, res.groups)
    except VariantSpecError as exc:
        assert str(exc) and "\n" not in str(exc)
        event("refused by the parser")
        return
    lams = ([cfg.lam] if cfg.family in ("uniform", "inject", "axis", "ties", "dare") else []) + list(cfg.lams)
    for lam in lams:
        assert math.isfinite(lam) and -10 <= lam <= 10, (spec, lam)
    try:
        m, _ = config_margins(res, cfg, 13, "test")
    except VariantSpecError as exc:
        assert "\n" not in str(exc)
        event("parsed, not stored and not estimable")
        return
    event("margins")
    assert m.shape == res.seeds[13].single("fft").shape and np.isfinite(m).all(), spec


@SETTINGS
@given(lams=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=4))
def test_the_estimator_refuses_what_it_cannot_estimate(res, lams):
    est = RemixEstimator(res.seeds[13], "test")
    ok = len(lams) == len(res.groups) and all(math.isfinite(v) for v in lams)
    if not ok:
        with pytest.raises(ValueError, match="coefficients|finite"):
            est.margins(lams)
        return
    assert np.isfinite(est.margins(lams)).all()
