"""What only the InfluxDB store does: the HTTP exchange, authentication, retries and errors.

The exchange is checked twice: against the real influxd (1.6) for what it can show, and
against a small recording HTTP server on a real socket for what a 1.x server without auth
cannot show (token and basic-auth headers, the exact request, server errors on demand).
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wardlink.hub.config import load_config
from wardlink.hub.errors import ConfigError, InvalidInput
from wardlink.hub.telemetry import Point, StoreRejected, StoreUnavailable, canonical_tags, open_store
from wardlink.hub.telemetry.influx import InfluxStore
from wardlink.hub.telemetry.sqlite import SQLiteStore

T0 = 1_767_225_600_000
TAGS = canonical_tags({"gateway": "gw-1", "channel": "t1"})


def points(n, start=T0):
    return [Point("temperature", TAGS, start + i, float(i)) for i in range(n)]


class Recorder:
    """An HTTP server on 127.0.0.1 that records requests and answers from a script."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[tuple[int, bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                url = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                raw = body
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                recorder.requests.append({"method": self.command, "path": url.path,
                                          "query": dict(urllib.parse.parse_qsl(url.query)),
                                          "headers": dict(self.headers), "body": body, "raw": raw})
                status, reply = recorder.script.pop(0) if recorder.script else (204, b"")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.close()


def test_writes_are_gzipped_line_protocol_with_millisecond_precision(recorder):
    store = InfluxStore(recorder.url, "wardlink", retention_policy="autogen")
    store.write(points(3))
    [req] = recorder.requests
    assert (req["method"], req["path"]) == ("POST", "/write")
    assert req["query"] == {"db": "wardlink", "precision": "ms", "rp": "autogen"}
    assert req["headers"]["Content-Encoding"] == "gzip"
    assert req["raw"][:2] == b"\x1f\x8b"
    assert req["body"].decode().split("\n") == [
        f'temperature,channel=t1,gateway=gw-1 late=false,quality="good",value={i} {T0 + i}' for i in range(3)]
    assert "Authorization" not in req["headers"]


def test_big_writes_are_split_into_requests_of_batch_lines(recorder):
    InfluxStore(recorder.url, "db", batch_lines=4).write(points(10))
    assert [req["body"].count(b"\n") + 1 for req in recorder.requests] == [4, 4, 2]


def test_token_authentication(recorder):
    InfluxStore(recorder.url, "db", token="s3cret-token").write(points(1))
    assert recorder.requests[0]["headers"]["Authorization"] == "Token s3cret-token"


def test_user_and_password_go_as_basic_auth_not_in_the_url(recorder):
    recorder.script = [(200, b'{"results":[{"statement_id":0}]}')]
    InfluxStore(recorder.url, "db", username="hub", password="pa ss").latest()
    [req] = recorder.requests
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(b"hub:pa ss").decode()
    assert "u" not in req["query"] and "p" not in req["query"]


def test_server_errors_are_retried_with_backoff_then_succeed(recorder):
    recorder.script = [(503, b'{"error":"busy"}'), (500, b'{"error":"oops"}')]
    InfluxStore(recorder.url, "db", retries=3, backoff_s=0.01).write(points(2))
    assert len(recorder.requests) == 3
    assert recorder.requests[0]["body"] == recorder.requests[2]["body"]


def test_retries_are_bounded(recorder):
    recorder.script = [(503, b'{"error":"still busy"}')] * 5
    with pytest.raises(StoreUnavailable, match="HTTP 503: still busy"):
        InfluxStore(recorder.url, "db", retries=2, backoff_s=0.01).write(points(1))
    assert len(recorder.requests) == 3


@pytest.mark.parametrize("status, error, cls", [
    (400, "unable to parse 'x': missing fields", StoreRejected),
    (401, "authorization failed", StoreUnavailable),
    (403, "forbidden", StoreUnavailable),
    (404, 'database not found: "db"', StoreUnavailable),
    (413, "Request Entity Too Large", StoreRejected),
])
def test_client_errors_are_not_retried_and_carry_influxdbs_text(recorder, status, error, cls):
    recorder.script = [(status, json.dumps({"error": error}).encode())]
    with pytest.raises(cls) as info:
        InfluxStore(recorder.url, "db", retries=3, backoff_s=0.01).write(points(1))
    assert error in str(info.value) and f"HTTP {status}" in str(info.value)
    assert len(recorder.requests) == 1


def test_queries_are_influxql_posted_with_epoch_ms(recorder):
    recorder.script = [(200, b'{"results":[{"statement_id":0}]}')]
    InfluxStore(recorder.url, "db").range(gateway="gw'1", channel="t1", start_ms=T0, end_ms=T0 + 1000)
    [req] = recorder.requests
    form = dict(urllib.parse.parse_qsl(req["body"].decode()))
    assert (req["path"], form["db"], form["epoch"]) == ("/query", "db", "ms")
    assert form["q"] == (f"SELECT \"value\", \"quality\" FROM /.*/ WHERE \"gateway\" = 'gw\\'1' AND "
                         f"\"channel\" = 't1' AND time >= {T0}ms AND time < {T0 + 1000}ms")


# --------------------------------------------------------------------------- real influxd


def test_a_field_type_conflict_is_rejected_with_influxdbs_explanation(influxd):
    influxd.write([f"temperature,channel=t1,gateway=gw-1 value=1i {T0 - 1}"])
    with pytest.raises(StoreRejected, match="field type conflict"):
        InfluxStore(influxd.url, influxd.database, retries=0).write(points(1))


def test_a_missing_database_is_unavailable_until_created(influxd):
    store = InfluxStore(influxd.url, influxd.database + "_new", retries=0)
    with pytest.raises(StoreUnavailable, match="database not found"):
        store.write(points(1))
    with pytest.raises(StoreUnavailable, match="database not found"):
        store.latest()
    store.create_database()
    try:
        store.write(points(5))
        assert store.count() == 5
    finally:
        influxd.query(f'DROP DATABASE "{influxd.database}_new"')


def test_many_points_in_small_batches_all_land(influxd):
    store = InfluxStore(influxd.url, influxd.database, batch_lines=97)
    store.write(points(1000))
    assert store.count() == 1000


def test_open_store_follows_the_config(tmp_path, influxd):
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    config = load_config(environ={}, overrides={"telemetry": "influxdb", "influx_url": influxd.url,
                                                "influx_database": influxd.database, "data_dir": str(tmp_path)})
    store = open_store(config)
    assert isinstance(store, InfluxStore) and store.ping()
    store.write(points(2))
    assert store.count() == 2
    with pytest.raises(InvalidInput, match="set one, not both"):
        open_store(config.with_overrides(influx_token_file=str(token), influx_username="hub"))
    with pytest.raises(ConfigError, match="influx_password_file"):
        open_store(config.with_overrides(influx_username="hub", influx_password_file=str(tmp_path / "missing")))
    sqlite_store = open_store(load_config(environ={}, overrides={"data_dir": str(tmp_path)}))
    assert isinstance(sqlite_store, SQLiteStore) and sqlite_store.path == tmp_path / "telemetry.db"
    sqlite_store.close()
