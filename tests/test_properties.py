"""Property-based checks (hypothesis): generated tables, config overrides, configuration strings
and λ vectors. Every outcome is a valid result or a clear error (exit status 2, one line, no
traceback) — never another exception, never a non-finite number in a result."""
from __future__ import annotations

import math
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precompute.__main__ import main
from taskfair import load_results
from taskfair.steering.configurations import ConfigSpecError, config_margins, parse_config
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
    n = draw(st.integers(0, 40))
    header = draw(st.sampled_from(["text,label,group", "text,label,group", "txt,label,group", "text,group"]))
    rows = []
    for i in range(n):
        text = draw(st.one_of(st.just(f"comment {i} about things"), _TEXT))
        cells = [_cell(text), draw(_LABELS), _cell(draw(_NAMES))]
        rows.append(",".join(cells if header.count(",") == 2 else [cells[0], cells[2]]))
    body = (header + "\n" + "\n".join(rows) + ("\n" if rows else "")).encode("utf-8")
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "latin-1-bytes", "empty"]))
    if encoding == "latin-1-bytes":
        body = body.replace(b"comment", b"comm\xe9nt")
    elif encoding == "empty":
        body = b""
    return body


def _table_args(root, csv):
    return ["--validate", "--set", "model=tiny-bert", "--set", "dataset.name=table", "--set", f"dataset.path={csv}",
            "--set", "dataset.group_column=group", "--set", "dataset.subgroups=null",
            "--set", f"output_root={root}"]


@SETTINGS
@given(body=tables())
def test_any_table_is_validated_or_refused_in_one_line(tmp_path_factory, capsys, body):
    folder = tmp_path_factory.mktemp("table")
    csv = folder / "data.csv"
    csv.write_bytes(body)
    code = main(_table_args(folder / "art", csv))
    out = capsys.readouterr()
    assert code in (0, 2), out.err
    assert "Traceback" not in out.err + out.out
    if code == 2:
        assert len(out.err.strip().splitlines()) == 1, out.err
    else:
        assert "config is valid" in out.out
    assert not (folder / "art").exists()  # validation writes nothing


# ---------------------------------------------------------------- config overrides

_KEYS = st.sampled_from(["train.epochs", "train.lr", "train.batch_size", "train.min_steps", "seeds", "grids.uniform",
                         "grids.inject", "grids.methods", "dataset.max_rows", "dataset.test_size", "eval.precision",
                         "model_dtype", "name", "lora.r", "nonsense", "train.nonsense", "grids"])
_VALUES = st.one_of(st.integers(-3, 5), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["", "null", "[]", "[13, 13]", "[0.5, 2]", "[-1]", "abc", "bf16", "bfloat16",
                                     "[ties]", "{a: 1}", "1e-3", ".nan", "../x"]))


@SETTINGS
@given(sets=st.lists(st.tuples(_KEYS, _VALUES), min_size=1, max_size=3))
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
    kind = draw(st.sampled_from(["fft", "lora", "base", "subgroup", "uniform", "inject", "axis", "remix", "ties",
                                 "dare", "nonsense", ""]))
    group = draw(st.sampled_from(["female", "muslims", "black", "nobody", ""]))
    if kind in ("uniform", "ties", "dare"):
        return f"{kind}:{draw(_NUM)}"
    if kind in ("inject", "axis"):
        return f"{kind}:{group}:{draw(_NUM)}"
    if kind == "subgroup":
        return f"subgroup:{group}"
    if kind == "remix":
        return "remix:" + ",".join(draw(st.lists(_NUM, min_size=0, max_size=4)))
    return kind + draw(st.sampled_from(["", ":", ":1"]))


@SETTINGS
@given(spec=config_strings())
def test_any_configuration_string_gives_finite_margins_or_a_clear_error(res, spec):
    try:
        cfg = parse_config(spec, res.groups)
    except ConfigSpecError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    lams = ([cfg.lam] if cfg.kind in ("uniform", "inject", "axis", "ties", "dare") else []) + list(cfg.lams)
    for lam in lams:
        assert math.isfinite(lam) and 0 <= lam <= 10, (spec, lam)
    try:
        m, _ = config_margins(res, cfg, 13, "test")
    except ConfigSpecError as exc:
        assert "\n" not in str(exc)
        return
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
