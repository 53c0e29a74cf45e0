"""Links made to attack whoever opens them: every page, every URL parameter it reads, with markdown
links and images, HTML, Streamlit directives, bare addresses and 400 KB values. Nothing of them
may become a link, an image or a tag, and nothing is echoed back in full.

Here through AppTest (every text element's markdown); ``test_browser.py`` checks the real DOM."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]
PARAMS = ("run", "lam", "config", "inject", "step", "present")
# what each payload would render as if it reached markdown unescaped
HOSTILE = ("[fix it here](https://evil.example/) ![x](http://127.0.0.1:9/track.png) "
           "<img src=x onerror=alert(1)> <a href='https://evil.example'>y</a> :red[**pwned**] "
           "www.evil.example HTTPS://EVIL.EXAMPLE/x mail@evil.example $\\frac{1}{0}$")
LIVE = ("](https://evil.example", "](http://127.0.0.1", "<img", "<a ", ":red[", "www.evil.example",
        "https://evil.example", "http://127.0.0.1", "mail@evil.example", "$\\frac")
BIG = "B" * 400_000
TEXT_ELEMENTS = ("markdown", "caption", "warning", "error", "info", "success", "title", "header",
                 "subheader", "toast", "latex", "code")


@pytest.fixture
def store(pico_store, monkeypatch, tmp_path):
    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(pico_store))
    monkeypatch.setenv("TASKFAIR_EXPORTS", str(tmp_path / "exports"))
    return pico_store


def _texts(at: AppTest) -> list[str]:
    out = []
    for kind in TEXT_ELEMENTS:
        try:
            elements = at.get(kind)
        except Exception:   # an element type this Streamlit does not have
            continue
        out += [str(getattr(e, "value", "")) for e in elements]
    return out


@pytest.mark.parametrize("payload", [HOSTILE, BIG], ids=["markup", "400KB"])
def test_no_page_renders_a_hostile_link_parameter(store, payload):
    for name in PAGES:
        at = AppTest.from_file(str(ROOT / name), default_timeout=120)
        for k in PARAMS:
            at.query_params[k] = payload
        at.run()
        assert not at.exception, (name, [e.value for e in at.exception])
        texts = _texts(at)
        assert texts, name   # the page rendered something
        for t in texts:
            bare = re.sub(r"\\.", "\0", t)   # an escaped mark is text: only unescaped ones are markup
            for live in LIVE:
                assert live.lower() not in bare.lower(), (name, live, t[:300])
            assert len(t) < 6_000, (name, len(t), t[:200])   # a 400 KB value is cut, not echoed
        if payload is HOSTILE and name == "app.py":
            # the warning says what was ignored, readably (the escapes are for markdown only)
            assert any("from the link is not in" in w.value for w in at.warning)
