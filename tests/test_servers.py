"""The shared server fixtures start real servers that behave like production ones."""

from __future__ import annotations

import json
import os
import queue
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage

import paho.mqtt.client as mqtt
import pytest

from servers import MosquittoServer, ServerStartError, free_port

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

pytestmark = pytest.mark.timeout(120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # No zombie can answer here: stop() and kill() reap the server through Popen.wait().
    return True


class MqttClient:
    """A paho-mqtt 2.x client that turns callbacks into waitable events."""

    def __init__(self, server, client_id: str, clean_session: bool = True, **auth):
        self.connected = threading.Event()
        self.connack: tuple | None = None
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311, clean_session=clean_session)
        if auth:
            self.client.username_pw_set(auth["username"], auth["password"])
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        self.server = server

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = (flags.session_present, reason_code)
        if reason_code.is_failure:
            client.disconnect()  # a refused client would otherwise keep retrying
        self.connected.set()

    def connect(self, timeout: float = 10.0) -> MqttClient:
        """Connect, start the network loop and wait for the CONNACK."""
        self.connected.clear()
        self.client.connect(self.server.host, self.server.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(timeout), "no CONNACK"
        return self

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 10.0) -> None:
        """Subscribe and wait for the SUBACK."""
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        self.client.subscribe(topic, qos)
        assert done.wait(timeout), "no SUBACK"

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish and, for QoS 1, wait until the broker acknowledged it."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def close(self) -> None:
        """Disconnect and stop the network loop."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients():
    """Make MQTT clients that are disconnected when the test ends."""
    made: list[MqttClient] = []

    def make(server, client_id, **kwargs) -> MqttClient:
        client = MqttClient(server, client_id, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# --------------------------------------------------------------------------- ports

def test_free_port_gives_distinct_bindable_ports():
    """Ports handed out are never repeated and can be bound on 127.0.0.1."""
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------- Mosquitto

def test_mosquitto_qos1_roundtrip(mosquitto, clients):
    """A QoS 1 message published by one client reaches a persistent-session subscriber."""
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    sub = clients(mosquitto, "sub-1", clean_session=False).connect()
    sub.subscribe("ward/3/bed/7", qos=1)
    pub = clients(mosquitto, "pub-1").connect()
    pub.publish("ward/3/bed/7", b'{"spo2": 97}', qos=1)
    msg = sub.messages.get(timeout=10)
    assert (msg.topic, msg.payload, msg.qos) == ("ward/3/bed/7", b'{"spo2": 97}', 1)


def test_mosquitto_retained_message_survives_restart(mosquitto, clients):
    """A retained message is saved on clean shutdown and served again after start()."""
    pub = clients(mosquitto, "pub-retain").connect()
    pub.publish("gw/g1/status", b"online", qos=1, retain=True)
    pub.close()
    port, pid = mosquitto.port, mosquitto.pid
    mosquitto.stop()
    assert not mosquitto.is_running and not _alive(pid)
    assert mosquitto.persistence_file.stat().st_size > 0
    mosquitto.start()
    assert mosquitto.port == port and mosquitto.pid != pid
    sub = clients(mosquitto, "sub-retain").connect()
    sub.subscribe("gw/+/status", qos=1)
    msg = sub.messages.get(timeout=10)
    assert (msg.topic, msg.payload, msg.retain) == ("gw/g1/status", b"online", True)


def test_mosquitto_queues_qos1_for_offline_session_across_restart(mosquitto, clients):
    """QoS 1 messages for a disconnected persistent session survive a broker restart."""
    hub = clients(mosquitto, "hub-queue", clean_session=False).connect()
    hub.subscribe("telemetry/#", qos=1)
    hub.close()
    pub = clients(mosquitto, "gw-queue").connect()
    for i in range(3):
        pub.publish(f"telemetry/g1/{i}", str(i).encode(), qos=1)
    pub.close()

    mosquitto.restart()

    again = clients(mosquitto, "hub-queue", clean_session=False).connect()
    session_present, reason = again.connack
    assert session_present and not reason.is_failure
    got = sorted((m.topic, m.payload) for m in (again.messages.get(timeout=10) for _ in range(3)))
    assert got == [(f"telemetry/g1/{i}", str(i).encode()) for i in range(3)]


def test_mosquitto_kill_and_start_on_same_port(mosquitto, clients):
    """kill() ends the broker at once; start() brings it back on the same port."""
    pid, port = mosquitto.pid, mosquitto.port
    mosquitto.kill()
    mosquitto.kill()  # idempotent
    assert not _alive(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    mosquitto.start()
    assert mosquitto.port == port
    clients(mosquitto, "after-kill").connect()


def test_mosquitto_password_file_and_acl(mosquitto_factory, clients):
    """With users set, anonymous and wrong-password clients are refused and the ACL applies."""
    acl = ("user hub\ntopic read telemetry/#\ntopic write cmd/#\n\n"
           "user gw1\ntopic write telemetry/#\ntopic read cmd/#\n")
    broker = mosquitto_factory(users={"hub": "s3cret-pw", "gw1": "other-pw"}, acl=acl)
    anonymous = clients(broker, "anon").connect()
    assert anonymous.connack[1].is_failure
    wrong = clients(broker, "wrong", username="hub", password="nope").connect()
    assert wrong.connack[1].is_failure
    hub = clients(broker, "hub", username="hub", password="s3cret-pw").connect()
    assert not hub.connack[1].is_failure
    hub.subscribe("#", qos=1)
    gw = clients(broker, "gw1", username="gw1", password="other-pw").connect()
    gw.publish("telemetry/g1", b"reading", qos=1)
    msg = hub.messages.get(timeout=10)
    assert (msg.topic, msg.payload) == ("telemetry/g1", b"reading")
    # hub may only read telemetry: the broker acknowledges this publish but drops it, so the
    # next message hub sees is gw1's second reading.
    hub.publish("telemetry/spoof", b"x", qos=1)
    gw.publish("telemetry/g2", b"second", qos=1)
    msg = hub.messages.get(timeout=10)
    assert (msg.topic, msg.payload) == ("telemetry/g2", b"second")


def test_mosquitto_session_fixture_is_shared(mosquitto_session, request):
    """The session broker is running and is the same object for every test."""
    assert mosquitto_session.is_running
    assert request.getfixturevalue("mosquitto_session") is mosquitto_session


def test_start_failure_reports_log_tail(tmp_path):
    """A broker that cannot start raises ServerStartError quoting its own log."""
    server = MosquittoServer(tmp_path, extra_config=["no_such_option 1"])
    with pytest.raises(ServerStartError) as excinfo:
        server.start()
    assert "no_such_option" in str(excinfo.value)
    assert not server.is_running
    server.close()


def test_start_retries_when_port_taken(tmp_path):
    """If another process grabs the chosen port before start, a new port is picked."""
    server = MosquittoServer(tmp_path)
    taken = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with server:
            assert server.is_running and server.port != taken
            pid = server.pid
    assert not _alive(pid)


def test_given_port_in_use_fails_with_clear_error(tmp_path):
    """An explicitly requested port that is taken is an error naming the cause."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = MosquittoServer(tmp_path, port=squatter.getsockname()[1])
        with pytest.raises(ServerStartError, match="(?i)address already in use"):
            server.start()
        server.close()


def test_context_manager_stops_and_cleans_up():
    """Leaving the with-block stops the broker and removes the directory it created."""
    with MosquittoServer() as server:
        pid, base_dir = server.pid, server.base_dir
        assert base_dir.is_dir() and _alive(pid)
    assert not _alive(pid) and not base_dir.exists()
    server.stop()  # idempotent after close


# --------------------------------------------------------------------------- influxd

def _http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read()


def _select(influxd, q: str) -> list:
    params = urllib.parse.urlencode({"db": influxd.database, "q": q, "epoch": "ms"})
    status, body = _http("GET", f"{influxd.url}/query?{params}")
    assert status == 200
    series = json.loads(body)["results"][0].get("series", [])
    return [row for s in series for row in s["values"]]


def test_influxd_write_then_query(influxd):
    """Line protocol written over HTTP with ms precision is returned by /query."""
    lines = b"env,gw=g1,ch=temp value=21.5 1700000000000\nenv,gw=g1,ch=temp value=21.75 1700000001000"
    status, _ = _http("POST", f"{influxd.url}/write?db={influxd.database}&precision=ms", lines)
    assert status == 204
    assert _select(influxd, "SELECT value FROM env") == [[1700000000000, 21.5],
                                                         [1700000001000, 21.75]]


def test_influxd_data_survives_stop_start(influxd):
    """Points written before a stop are there after start(); while down, /ping is refused."""
    influxd.write("env,gw=g1 value=1 1700000000000")
    port = influxd.port
    influxd.stop()
    with pytest.raises(urllib.error.URLError):
        _http("GET", f"{influxd.url}/ping")
    influxd.start()
    assert influxd.port == port
    assert _select(influxd, "SELECT value FROM env") == [[1700000000000, 1.0]]


def test_influxd_keeps_acknowledged_points_after_kill(influxd):
    """A write answered 204 is in the WAL: it survives SIGKILL and WAL replay on start()."""
    influxd.write(["env,gw=g2 value=3 1700000000000", "env,gw=g2 value=4 1700000002000"])
    influxd.kill()
    assert not influxd.is_running
    influxd.start()
    assert [row["value"] for row in influxd.points("SELECT value FROM env")] == [3.0, 4.0]


def test_influxd_gives_each_test_a_fresh_database(influxd):
    """The per-test database exists, is empty, and no listener uses influx default ports."""
    assert influxd.database in influxd.server.databases()
    assert influxd.query("SHOW MEASUREMENTS")["results"][0].get("series") is None
    assert influxd.port not in (8086, 8088) and influxd.server.rpc_port not in (8086, 8088)


def test_influxd_query_error_is_raised(influxd):
    """A bad InfluxQL statement raises with influxd's own message."""
    from servers import InfluxQueryError
    with pytest.raises(InfluxQueryError, match="error parsing query"):
        influxd.query("SELEKT 1")


# --------------------------------------------------------------------------- PostgreSQL

def test_postgres_data_survives_restart(postgres_db):
    """A committed row is still there after the server restarts on the same port."""
    import psycopg

    with psycopg.connect(postgres_db.dsn) as conn:
        conn.execute("CREATE TABLE asset (id serial PRIMARY KEY, tag text NOT NULL)")
        conn.execute("INSERT INTO asset (tag) VALUES (%s)", ("INF-0042",))
    port = postgres_db.port
    postgres_db.restart()
    assert postgres_db.port == port
    with psycopg.connect(postgres_db.dsn) as conn:
        assert conn.execute("SELECT tag FROM asset").fetchall() == [("INF-0042",)]


def test_postgres_url_is_fresh_database_for_sqlalchemy(postgres_url):
    """postgres_url is an SQLAlchemy URL of an empty database of its own."""
    import sqlalchemy as sa

    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(sa.text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            )).scalar_one()
            db = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    finally:
        engine.dispose()
    assert tables == 0
    assert postgres_url.endswith("/" + db)


def test_postgres_stop_refuses_connections_then_start(postgres_db):
    """While stopped the port refuses connections; after kill() it recovers and serves."""
    import psycopg

    postgres_db.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_db.dsn, connect_timeout=2)
    postgres_db.start()
    postgres_db.kill()
    postgres_db.start()
    with postgres_db.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


# --------------------------------------------------------------------------- SMTP

def test_smtp_sink_collects_messages(smtp_server):
    """A message sent with smtplib arrives parsed, with its envelope."""
    msg = EmailMessage()
    msg["From"] = "wardlink@hospital.example"
    msg["To"] = "biomed@hospital.example"
    msg["Subject"] = "PM overdue: INF-0042"
    msg.set_content("Preventive maintenance is 3 days overdue.")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.send_message(msg)
    (got,) = smtp_server.wait_for(1, timeout=10)
    assert smtp_server.envelopes[0].mail_from == "wardlink@hospital.example"
    assert got["Subject"] == "PM overdue: INF-0042"
    assert got.get_content().strip() == "Preventive maintenance is 3 days overdue."
    assert smtp_server.envelopes[0].rcpt_tos == ["biomed@hospital.example"]


def test_smtp_sink_with_credentials_requires_login():
    """With credentials set, a wrong password is refused and the right one can send."""
    from servers import SmtpSink

    with SmtpSink(credentials=("alerts", "pw-123")) as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("alerts", "wrong")
            with pytest.raises(smtplib.SMTPSenderRefused):
                smtp.sendmail("a@example.org", ["b@example.org"], "Subject: x\n\nbody")
            smtp.login("alerts", "pw-123")
            smtp.sendmail("a@example.org", ["b@example.org"], "Subject: hi\n\nbody")
        assert [m["Subject"] for m in sink.wait_for(1, timeout=10)] == ["hi"]
    with pytest.raises(TimeoutError):
        sink.wait_for(2, timeout=0.01)


# --------------------------------------------------------------------------- process hygiene

def test_server_process_is_the_server_itself(tmp_path):
    """The child is mosquitto itself (no wrapper left in between), so signals reach it."""
    with MosquittoServer(tmp_path) as server:
        comm = open(f"/proc/{server.pid}/comm").read().strip()
        assert comm == "mosquitto"
        os.kill(server.pid, signal.SIGTERM)
        server._proc.wait(timeout=10)
        assert not server.is_running


# --------------------------------------------------------------------------- fixture policy

_INNER_CONFTEST = f"""
import runpy
_shared = runpy.run_path({os.path.join(TESTS_DIR, "conftest.py")!r})
globals().update({{k: v for k, v in _shared.items() if not k.startswith("__")}})
"""

_INNER_TESTS = """
def test_broker_runs(mosquitto):
    assert mosquitto.is_running

def test_broker_log_is_attached_on_failure(mosquitto):
    mosquitto.wait_for_log("running")
    assert False, "deliberate failure"
"""


def _run_inner_pytest(tmp_path, **env) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(_INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text(_INNER_TESTS)
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("CI", "WARDLINK_MOSQUITTO", "PYTEST_ADDOPTS")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=90,
    )


def test_failed_test_report_shows_server_log(tmp_path):
    """A failing test's report carries the broker log written while it ran."""
    run = _run_inner_pytest(tmp_path)
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    assert "mosquitto log (" in run.stdout
    assert "mosquitto version" in run.stdout.split("mosquitto log (", 1)[1]


def test_missing_binary_skips_with_install_hint(tmp_path):
    """Without the server binary a test is skipped and told which package to install."""
    run = _run_inner_pytest(tmp_path, WARDLINK_MOSQUITTO=str(tmp_path / "no-such-binary"))
    assert "2 skipped" in run.stdout, run.stdout + run.stderr
    assert "apt-get install mosquitto" in run.stdout


def test_missing_binary_fails_under_ci(tmp_path):
    """With CI=true a missing server binary is an error, never a silent skip."""
    run = _run_inner_pytest(tmp_path, CI="true",
                            WARDLINK_MOSQUITTO=str(tmp_path / "no-such-binary"))
    assert "2 errors" in run.stdout, run.stdout + run.stderr
    assert "apt-get install mosquitto" in run.stdout
    assert run.returncode != 0
