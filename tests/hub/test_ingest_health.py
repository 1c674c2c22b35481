"""Ingest's problems are visible: a stalled worker makes /api/v1/health say so, and the JSON API
lists workers and dead letters. Real Mosquitto, a real influxd, SQLite and PostgreSQL; the web
app and the worker share one manual clock, so "stalled for longer than ingest_stall_s" is
reached by advancing it, not by waiting."""

from __future__ import annotations

import base64

import pytest
from relational_support import clock, login, web

from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
from wardlink.hub.telemetry.influx import InfluxStore
from ingest_support import Publisher, hub_config, telemetry, wait_until
from wardlink import protocol

pytestmark = pytest.mark.timeout(180)


def health(client) -> tuple[int, dict]:
    response = client.get("/api/v1/health")
    return response.status_code, response.json


def start_worker(tmp_path, mosquitto, web, store, client_id: str) -> IngestWorker:
    config = hub_config(tmp_path, mosquitto.url, mqtt_client_id=client_id)
    worker = IngestWorker(config, store, StaticResolver(), web.clock, records=IngestRecords(web.engine),
                          stats_interval_s=0.05, retry_initial_s=0.05, retry_max_s=0.2)
    worker.start()
    wait_until(lambda: worker.stats().subscribed, what="worker subscribed")
    return worker


def test_a_worker_retrying_a_store_write_too_long_makes_health_degraded_with_a_reason(tmp_path, mosquitto, web):
    from servers import InfluxServer

    server = InfluxServer(tmp_path / "influxd").start()
    worker = None
    publisher = Publisher(mosquitto.host, mosquitto.port, "gw-stall")
    try:
        store = InfluxStore(server.url, server.create_database("stall"), retries=0, timeout_s=2)
        worker = start_worker(tmp_path, mosquitto, web, store, "hub-stall")
        client = web.app.test_client()
        wait_until(lambda: health(client)[1]["ingest"] == "ok", what="the worker's first report")
        assert health(client) == (200, {"status": "ok", "database": "ok", "telemetry": "ok", "ingest": "ok"})

        server.stop()
        now_ms = web.clock.now_ms()
        publisher.publish(*telemetry("gw-stall", 0, [("t1", now_ms - 1000, 4.0)]))
        wait_until(lambda: worker.stats().store_errors >= 2, what="the store write retried")
        assert health(client)[1]["ingest"] == "ok"  # retrying, but not for long yet

        web.clock.advance(web.config.ingest_stall_s + 1)
        reported = wait_until(
            lambda: (body := health(client)[1])["ingest"] == "stalled" and "retrying a store write" in
            " ".join(body["reasons"]) and body, what="health to say stalled")
        assert reported["status"] == "degraded" and health(client)[0] == 200  # this web server still serves
        assert reported["reasons"] == [f"an ingest worker is stalled: retrying a store write for "
                                       f"{web.config.ingest_stall_s + 1} s"]

        login(client, "viewer")
        overview = client.get("/api/v1/ingest").json
        [row] = overview["workers"]
        assert (overview["status"], row["client_id"], row["state"], row["pending"]) == ("stalled", "hub-stall",
                                                                                        "stalled", 1)
        assert "influx" in row["last_error"].lower() and row["retrying_since_ms"] == now_ms
        page = client.get("/ingest").text
        assert "Ingest is stalled" in page and "retrying a store write" in page and "hub-stall" in page

        server.start()
        wait_until(lambda: worker.stats().acked == 1, timeout=60, what="the batch stored once influxd is back")
        wait_until(lambda: health(client)[1]["ingest"] == "ok", what="health ok again")
        assert client.get("/api/v1/ingest").json["workers"][0]["state"] == "running"
    finally:
        publisher.close()
        if worker is not None:
            worker.stop(drain=False)
        server.close()
    # A worker that stopped cleanly is not a stalled one.
    web.clock.advance(10 * web.config.ingest_stall_s)
    assert health(web.app.test_client())[1]["ingest"] == "ok"
    assert client.get("/api/v1/ingest").json["workers"][0]["state"] == "stopped"


def test_dead_letters_are_listed_with_their_payload_and_reason(tmp_path, mosquitto, web):
    from wardlink.hub.telemetry.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "ingest-telemetry.db")
    publisher = Publisher(mosquitto.host, mosquitto.port, "gw-bad")
    worker = start_worker(tmp_path, mosquitto, web, store, "hub-letters")
    try:
        poison = b'{"v":1,"gateway":"gw-bad","state":"online","boot":"\\ud800"}'
        publisher.publish(protocol.topic("gw-bad", "status"), poison)
        publisher.publish(protocol.topic("gw-bad", "telemetry"), b"\xff not json")
        wait_until(lambda: worker.stats().acked == 2, what="both acknowledged")
        client = web.app.test_client()
        login(client, "viewer")
        wait_until(lambda: client.get("/api/v1/ingest").json["dead_letters"]["distinct"] == 2,
                   what="the counters published")
        items = client.get("/api/v1/ingest/dead-letters").json["items"]
        by_reason = {i["reason"]: i for i in items}
        assert set(by_reason) == {"invalid_text", "malformed_json"}
        letter = by_reason["invalid_text"]
        assert base64.b64decode(letter["payload_base64"]) == poison
        assert letter["payload_text"] == poison.decode() and letter["gateway"] == "gw-bad"
        assert "boot" in letter["detail"] and "lone surrogate" in letter["detail"]
        assert by_reason["malformed_json"]["payload_text"].startswith("\\xff not json")
        only = client.get("/api/v1/ingest/dead-letters?reason=invalid_text").json["items"]
        assert [i["id"] for i in only] == [letter["id"]]
        assert client.get("/api/v1/ingest/dead-letters?per_page=500").status_code == 400
        page = client.get("/ingest").text
        assert "invalid_text" in page and "malformed_json" in page and "hub-letters" in page
        assert "&#34;boot&#34;:&#34;\\ud800&#34;" in page  # the payload as sent, HTML-escaped
        assert "Ingest is stalled" not in page
        assert "invalid_text" in client.get("/ingest?reason=invalid_text").text
        assert "malformed_json" not in client.get("/ingest?reason=invalid_text").text.split("Dead letters")[1]
        nurse = web.app.test_client()
        login(nurse, "nurse")  # staff may not view gateways
        assert nurse.get("/api/v1/ingest/dead-letters").status_code == 403
        assert nurse.get("/ingest").status_code == 403
    finally:
        publisher.close()
        worker.stop(drain=False)
        store.close()
