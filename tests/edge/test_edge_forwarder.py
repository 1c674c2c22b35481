"""Forwarder details: id runs, status and health telemetry on a real broker."""

from __future__ import annotations

import asyncio
import time

import pytest

from wardlink.edge.config import load_config
from wardlink.edge.forwarder import id_runs
from wardlink.edge.gateway import Gateway

from edge_support import write_config


def test_id_runs_collapse_contiguous_ids():
    assert id_runs([]) == []
    assert id_runs([3]) == [(3, 3)]
    assert id_runs([1, 2, 3, 7, 8, 10]) == [(1, 3), (7, 8), (10, 10)]


@pytest.mark.timeout(60)
def test_health_telemetry_and_status_are_published(tmp_path, mosquitto, sink_factory):
    config = load_config(write_config(tmp_path, mosquitto.port, health=1))
    sink = sink_factory(mosquitto.host, mosquitto.port)

    async def scenario():
        gw = Gateway(config)
        await gw.start()
        try:
            deadline = time.monotonic() + 15
            wanted = {"gw.buffer_depth", "gw.oldest_unsent_s", "gw.dropped", "gw.publish_rate", "gw.disk_free",
                      "gw.uptime"}
            while not wanted <= {ch for ch, _ in sink.received()} or len(sink.statuses) < 2:
                assert time.monotonic() < deadline, "no health telemetry"
                await asyncio.sleep(0.05)
        finally:
            await gw.stop()

    asyncio.run(scenario())
    uptimes = sorted(v[0] for (ch, _), v in sink.values.items() if ch == "gw.uptime")
    assert uptimes[0] > 0
    online = [s for s in sink.statuses if s.state == "online"]
    assert len(online) >= 2, "the status is refreshed with each health report"
    assert online[0].version and online[0].uptime_s is not None and online[0].dropped == 0
    assert sink.statuses[-1].state == "offline"
    assert not sink.rejected
