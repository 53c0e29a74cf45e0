"""The dashboard's landing page against a fixture store (streamlit.testing AppTest)."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_landing_page_without_runs_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(tmp_path / "empty"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("make precompute" in i.value for i in at.info)


def test_landing_page_shows_the_run(pico_store, monkeypatch):
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(pico_store))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.selectbox[0].value == "pico"
    labels = {m.label: m.value for m in at.metric}
    assert labels["Model"] == "tiny-bert" and labels["Worst subgroup under FFT"] in {"female", "muslims", "black"}
    headline = at.dataframe[0].value
    assert list(headline.method) == ["base", "FFT", "LoRA", "task addition (chosen λ)"]


def test_damaged_run_is_reported_not_crashed(pico_store, tmp_path, monkeypatch):
    import shutil
    root = tmp_path / "copy"
    shutil.copytree(pico_store, root)
    (root / "pico" / "summary.json").write_text("{}")
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("sha256 differs" in e.value for e in at.error)
