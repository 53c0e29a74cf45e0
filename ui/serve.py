"""Serve the dashboard: ``python -m ui.serve [streamlit run's arguments]``, i.e. ``streamlit run
app.py`` with one change: the server's connections send small messages at once.

Streamlit binds its listening socket itself (``socket.socket(family)``, protocol number 0), and
asyncio switches Nagle's algorithm off only for sockets whose protocol is TCP, so every browser
connection kept it on: a rerun's later messages waited for the browser to acknowledge the first,
and browsers delay that acknowledgement (40 ms on Linux, up to 200 ms on Windows). Every rerun,
however short, took ≥ 44 ms on this machine; with ``TCP_NODELAY`` on the listening socket
(inherited by each accepted connection) a one-slider page answers in ~6 ms
(``bench/bench_serve_floor.py``; ``bench/bench_serve_load.py`` measures the dashboard both ways). Where Streamlit no longer binds that way, the
server starts unchanged.
"""
from __future__ import annotations

import socket
import sys


def _no_delay(bind):
    def bind_without_delay(*args, **kwargs):
        sock = bind(*args, **kwargs)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    bind_without_delay.__wrapped__ = bind
    return bind_without_delay


def patch() -> bool:
    """Turn Nagle's algorithm off on the sockets Streamlit's server binds; False where its
    server has no such function (then nothing is changed)."""
    try:
        from streamlit.web.server.starlette import starlette_server as server
    except ImportError:
        return False
    bind = getattr(server, "_bind_socket", None)
    if bind is None:
        return False
    if not hasattr(bind, "__wrapped__"):
        server._bind_socket = _no_delay(bind)
    return True


def main(argv: list[str] | None = None) -> int:
    from streamlit.web.cli import main as streamlit
    args = list(sys.argv[1:] if argv is None else argv) or ["app.py"]
    if not patch():
        print("ui.serve: this Streamlit binds its socket another way; serving it unchanged", file=sys.stderr)
    sys.argv = ["streamlit", "run", *args] if args[0] != "run" else ["streamlit", *args]
    return streamlit()


if __name__ == "__main__":
    sys.exit(main())
