"""Fixtures for the gateway tests (helpers live in edge_support.py)."""

from __future__ import annotations

import pytest
from edge_support import GW, Sink


@pytest.fixture
def sink_factory():
    """Make Sinks that are closed after the test."""
    made: list[Sink] = []

    def make(host: str, port: int, gateway_id: str = GW) -> Sink:
        sink = Sink(host, port, gateway_id)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.close()


