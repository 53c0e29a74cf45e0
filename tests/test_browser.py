"""A real browser: `streamlit run` headless on 127.0.0.1 and Debian's chromium taking a
screenshot, which must show the page, not Streamlit's loading skeleton."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--virtual-time-budget=60000", "--run-all-compositor-stages-before-draw",
         "--window-size=1400,1100"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)


@pytest.fixture
def server(pico_store):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make test` installs Debian's chromium (apt-get)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    port = _free_port()
    env = {**os.environ, "TASKFAIR_ARTIFACTS": str(pico_store), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"],   # the rest from .streamlit/config.toml
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _rendered(url: str, marker: str) -> str:
    """The DOM of ``url`` once it shows ``marker``: a page's first visit fills the server's caches
    (results, estimators), which can outlast one chromium run, so ask again for a while."""
    for _ in range(10):
        dom = _chromium("--dump-dom", url).stdout
        if marker in dom:
            return dom
        time.sleep(2)
    pytest.fail(f"{url} never rendered past the loading skeleton")


def test_dashboard_renders_in_a_real_browser(server, tmp_path):
    dom = _rendered(server, "Fairness of task arithmetic")
    assert "FFT vs LoRA vs task addition" in dom and "Worst subgroup under FFT" in dom

    from PIL import Image
    shot = tmp_path / "overview.png"
    # each screenshot is a fresh browser session, so the server reruns the page for it; on a busy
    # machine that can outlast chromium's wait once, leaving the page blank: allow two retries
    for attempt in range(3):
        _chromium(f"--screenshot={shot}", server)
        img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
        saturation = img.max(axis=2) - img.min(axis=2)
        coloured, dark = (saturation > 80).mean(), (img.max(axis=2) < 80).mean()
        if coloured > 0.005 and dark > 0.002:
            break
        time.sleep(3)
    assert img.shape[:2] == (1100, 1400)
    # the skeleton is white and light grey; the real page has coloured bars and dark text
    assert coloured > 0.005, "no coloured chart in the screenshot"
    assert dark > 0.002, "no dark text in the screenshot"

    remix = _rendered(f"{server}/remix?lam=0.2,0.4,0.6", "Remix the subgroup vectors")
    assert "Remix the subgroup vectors" in remix and "estimate" in remix
