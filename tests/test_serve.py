"""The dashboard's server sends small messages at once: `python -m ui.serve` turns Nagle's
algorithm off on the socket Streamlit binds, and every connection it accepts inherits that."""
import socket

import pytest

from ui import serve


@pytest.fixture
def patched(monkeypatch):
    from streamlit.web.server.starlette import starlette_server as server
    monkeypatch.setattr(server, "_bind_socket", server._bind_socket)   # restored after the test
    assert serve.patch() and serve.patch()                                # twice: wrapped once
    assert not hasattr(server._bind_socket.__wrapped__, "__wrapped__")
    return server


def _accepted_nodelay(listening: socket.socket) -> int:
    listening.setblocking(True)
    client = socket.create_connection(listening.getsockname()[:2], timeout=5)
    conn, _ = listening.accept()
    try:
        return conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        conn.close(), client.close(), listening.close()


def test_accepted_connections_have_nagle_off(patched):
    assert _accepted_nodelay(patched._bind_socket("127.0.0.1", 0, 8)) != 0


def test_without_the_patch_streamlit_leaves_it_on(patched):
    """Why the wrapper exists (if Streamlit binds with TCP_NODELAY one day, this fails and the
    wrapper can go)."""
    assert _accepted_nodelay(patched._bind_socket.__wrapped__("127.0.0.1", 0, 8)) == 0


def test_a_streamlit_without_that_function_is_served_unchanged(monkeypatch):
    from streamlit.web.server.starlette import starlette_server as server
    monkeypatch.delattr(server, "_bind_socket")
    assert serve.patch() is False
