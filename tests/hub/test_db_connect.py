"""Connecting to PostgreSQL gives up on a server that never answers instead of hanging (a
service would sit in connect until its watchdog killed it)."""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from wardlink.hub.db import open_engine


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never says a word (a wedged or blackholed server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def _connect(url: str) -> None:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


@pytest.mark.timeout(120)  # without a connect timeout libpq would wait here until this fires
def test_a_server_that_never_answers_is_given_up_on(silent_server):
    with pytest.raises(OperationalError, match="timeout expired"):
        _connect(f"postgresql+psycopg://wardlink:x@127.0.0.1:{silent_server}/wardlink")

