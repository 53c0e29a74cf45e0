"""Real clicks in a real browser: the dashboard served (`python -m ui.serve`, i.e. `streamlit run`) headless on 127.0.0.1 over the pico run, driven
by Playwright through Debian's chromium (``executable_path``; nothing is downloaded). Every page
opens without an exception; a Remix slider moves the numbers; *Evaluate exactly* shows exact
figures; a Frontier point loads into Remix and exports to a folder. Screenshots are kept under
``test-output/browser/`` (or ``$TASKFAIR_TEST_OUTPUT``)."""
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
def server(pico_store, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make test` installs Debian's chromium (apt-get)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    port = _free_port()
    env = {**os.environ, "TASKFAIR_ARTIFACTS": str(pico_store), "HF_HUB_OFFLINE": "1",
           "TASKFAIR_EXPORTS": str(tmp_path / "exports")}
    proc = subprocess.Popen([sys.executable, "-m", "ui.serve", "app.py", "--server.headless", "true",
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
        yield url, tmp_path / "exports"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


PAGES = {"": "Fairness of task arithmetic", "sweep": "λ", "remix": "Remix the subgroup vectors",
         "heatmaps": "Per-subgroup heatmaps", "frontier": "", "export": "Export the merged model",
         "diff": "", "report": "", "search": "", "vectors": "", "tour": "Is a merged model fairer?",
         "counterfactual": "Counterfactual identity test"}


@pytest.fixture
def browser_page(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    out = Path(os.environ.get("TASKFAIR_TEST_OUTPUT", ROOT / "test-output")) / "browser"
    out.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        try:
            yield page, server[0], server[1], out
        finally:
            browser.close()


def _open(page, url: str, title: str = "") -> None:
    page.goto(url)
    page.wait_for_selector("[data-testid='stMainBlockContainer'] h1", state="visible")
    if title:
        page.get_by_text(title, exact=False).first.wait_for()
    _settled(page)
    assert page.locator("[role='dialog']").count() == 0, page.locator("[role='dialog']").first.inner_text()


def _settled(page) -> None:
    """Wait until the script run is over (Streamlit shows a status widget while it runs)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    assert page.locator("[data-testid='stException']").count() == 0, page.inner_text("body")[:2000]


def _metrics(page) -> list[str]:
    return page.locator("[data-testid='stMetricValue']").all_inner_texts()


def test_every_page_renders_in_a_real_browser(browser_page):
    page, url, _, out = browser_page
    for path, title in PAGES.items():
        _open(page, f"{url}/{path}?run=pico", title)
        text = page.inner_text("[data-testid='stMainBlockContainer']")
        assert len(text.strip()) > 40, (path, text)
        page.screenshot(path=str(out / f"{path or 'overview'}.png"), full_page=True)
    # the overview's chart is drawn (plotly renders into an svg)
    _open(page, f"{url}/?run=pico", PAGES[""])
    # below the fold, and drawn after the script run is over: bring it into view and wait for it
    page.locator("[data-testid='stPlotlyChart']").first.scroll_into_view_if_needed()
    page.locator(".js-plotly-plot .main-svg").first.wait_for(state="attached", timeout=60_000)
    assert page.locator(".js-plotly-plot .main-svg").count() > 0


def test_heatmap_text_at_1400_px_and_the_tour_by_arrow_keys(browser_page):
    """Every heatmap cell's text at 1400 px: at least 12 px high and inside its cell. The guided
    tour moves with the arrow keys. (One test: each starts its own server and browser.)"""
    page, url, _, out = browser_page
    _open(page, f"{url}/heatmaps?run=pico", PAGES["heatmaps"])
    page.wait_for_selector(".js-plotly-plot .heatmap-label text")
    cells = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot .heatmap-label text')].map(t => {
        const r = t.getBBox(); const f = parseFloat(getComputedStyle(t).fontSize);
        const plot = t.closest('.js-plotly-plot');
        return {font: f, width: r.width, text: t.textContent,
                cell: plot._fullLayout.xaxis._length / plot._fullData[0].x.length};
    })""")
    assert len(cells) >= 12, cells
    assert min(c["font"] for c in cells) >= 12, cells[:3]
    wide = [c for c in cells if c["width"] > c["cell"]]
    assert not wide, wide[:3]
    page.screenshot(path=str(out / "heatmaps-1400.png"), full_page=True)

    # the guided tour, by the arrow keys
    _open(page, f"{url}/tour?run=pico", PAGES["tour"])
    page.locator("h1").first.click()   # focus the page (not a widget), as a presenter would
    page.keyboard.press("ArrowRight")
    page.get_by_text("(a) Task addition keeps accuracy", exact=False).first.wait_for()
    _settled(page)
    assert "step=1" in page.url
    page.wait_for_selector(".js-plotly-plot .main-svg")   # the finding's chart is drawn
    page.screenshot(path=str(out / "tour-a.png"), full_page=True)
    page.keyboard.press("ArrowRight")
    page.get_by_text("(b) Task addition has lower DPD", exact=False).first.wait_for()
    page.keyboard.press("ArrowLeft")
    page.get_by_text("(a) Task addition keeps accuracy", exact=False).first.wait_for()


def test_slider_exact_evaluation_frontier_and_export_by_clicking(browser_page):
    page, url, exports, out = browser_page
    _open(page, f"{url}/remix?run=pico&lam=0.2,0.2,0.2", PAGES["remix"])
    # the server's first request is this link: the sidebar still lists app.py's pages by title
    # (not Streamlit's pages/-folder list of file names with an "app" entry)
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.get_by_text("Remix", exact=True).wait_for()
    assert nav.get_by_text("app", exact=True).count() == 0 and nav.get_by_text("remix", exact=True).count() == 0
    assert "lam=0.2" in page.url
    before = _metrics(page)
    # the first subgroup's slider: click its thumb, then the arrow keys, as a keyboard user would
    # (a page still finishing its first run may redraw the slider under the keys: try again)
    thumb = page.locator("[data-testid='stSlider']").nth(1).locator("div[style*='translate(-50%, -50%)']")
    # to λ ≈ 1 (the whole vector): a short move can leave every label, hence every figure, as it
    # was on this tiny model; and a key pressed while the slider is redrawn is lost, so press on
    # until the URL says λ ≥ 0.9
    reached = "() => { const m = /lam=([-0-9.]+)/.exec(decodeURIComponent(window.location.search)); " \
              "return m !== null && parseFloat(m[1]) >= 0.9; }"
    for attempt in range(6):
        thumb.click()
        for _ in range(16):
            page.keyboard.press("ArrowRight")
        try:
            page.wait_for_function(reached, timeout=15_000)
            break
        except Exception:
            assert attempt < 5, f"the slider never reached λ ≥ 0.9 (URL: {page.url})"
    _settled(page)
    after = _metrics(page)
    for _ in range(120):  # the URL moves first; the numbers follow when the rerun's output lands
        if after != before:
            break
        page.wait_for_timeout(500)
        after = _metrics(page)
    assert after != before, (before, after, page.url)
    page.screenshot(path=str(out / "remix-moved.png"), full_page=True)

    page.get_by_role("button", name="Evaluate exactly").click()
    page.get_by_text("Exact evaluation done", exact=False).first.wait_for()
    _settled(page)
    page.screenshot(path=str(out / "remix-exact.png"), full_page=True)

    _open(page, f"{url}/frontier?run=pico")
    page.get_by_role("button", name="Load into Remix").click()
    page.wait_for_url("**/remix**")
    _settled(page)
    assert "lam=" in page.url

    _open(page, f"{url}/frontier?run=pico")
    page.get_by_role("button", name="Export this point").click()
    page.wait_for_url("**/export**")
    _settled(page)
    box = page.get_by_label("Configuration", exact=True)
    for _ in range(60):  # the box is drawn before the rerun that fills it has finished
        if box.input_value():
            break
        page.wait_for_timeout(500)
    spec = box.input_value()
    assert spec, "the Export page did not receive the point"
    name = page.get_by_label("Export name", exact=True)
    name.fill("clicked-export")
    name.press("Enter")
    _settled(page)
    page.get_by_role("button", name="Export", exact=True).click()
    page.get_by_text("Exported to", exact=False).first.wait_for()
    page.screenshot(path=str(out / "export-done.png"), full_page=True)
    folder = exports / "clicked-export"
    assert (folder / "model.safetensors").is_file() and (folder / "provenance.json").is_file()


def test_hostile_link_parameters_put_no_link_image_or_tag_in_the_dom(browser_page):
    """Every page opened with every URL parameter it reads set to markdown links and images, HTML
    and Streamlit directives (``test_hostile.py`` sweeps the same through AppTest, and 400 KB
    values): no link or image to those addresses reaches the DOM, and the browser fetches none."""
    from urllib.parse import quote
    from test_hostile import HOSTILE, PARAMS
    page, url, _, out = browser_page
    fetched = []
    from urllib.parse import urlsplit

    def outside(u: str) -> bool:   # our own server's requests carry the payload in their query: fine
        parts = urlsplit(u)
        return "evil.example" in (parts.hostname or "") or parts.port == 9
    page.on("request", lambda r: fetched.append(r.url) if outside(r.url) else None)
    query = "&".join(f"{k}={quote(HOSTILE)}" for k in PARAMS)
    for path in PAGES:
        page.goto(f"{url}/{path}?{query}")
        page.wait_for_selector("[data-testid='stMainBlockContainer'] h1", state="visible")
        _settled(page)
        injected = page.evaluate("""() => ({
            // (heading anchors link to this page's own address, query string and all: same origin, fine)
            links: [...document.querySelectorAll('a[href]')].map(a => a.href)
                        .filter(h => new URL(h).hostname.includes('evil.example') || new URL(h).port === '9'
                                     || h.startsWith('mailto:')),
            images: [...document.querySelectorAll('img')].map(i => i.getAttribute('src') || '')
                        .filter(s => s === 'x' || s.includes('127.0.0.1:9')),
            pwned: [...document.querySelectorAll('[data-testid="stMainBlockContainer"] *')]
                        .filter(e => e.children.length === 0 && /^\\*\\*pwned\\*\\*$|^pwned$/.test(e.textContent)
                                     && getComputedStyle(e).color === 'rgb(255, 43, 43)').length,
        })""")
        assert injected == {"links": [], "images": [], "pwned": 0}, (path, injected)
    page.screenshot(path=str(out / "hostile-link.png"), full_page=True)
    assert not fetched, fetched
