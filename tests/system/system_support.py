"""The production shape on one machine, for the fault-injection tests in this directory.

:class:`Plant` starts and owns every part:

- Mosquitto with the dynamic-security plugin (default deny, one login per gateway bound to its
  client id, the hub login) and a TLS listener that gateways and hub use; a plain loopback
  listener serves only the broker administration (enable/disable/kick of identities);
- influxd (one database on the session's server) and PostgreSQL (one database on the
  session's cluster) as the hub's telemetry and relational stores;
- two ``wardlink hub ingest`` processes in one shared-subscription group, ``wardlink hub
  scheduler`` and ``wardlink hub web``, all with the rules file of :data:`RULES`;
- gateways A-D: real ``wardlink-edge run`` processes on the emulated hardware backend;
- gateway E: the same :class:`wardlink.edge.gateway.Gateway` run in this process on a
  :class:`~wardlink.clock.ManualClock` that :class:`ScenarioGateway` advances (the scenario
  clock), so that minutes of gateway time can pass in seconds of wall time.

Every gateway has the same 50 channels on five kinds of bus (:func:`channels_toml`), keeps a
journal of every reading it committed (``buffer.journal``), which is the record of the
readings sampled, and one channel, ``door.alarm``, whose square wave crosses the ``door-open``
threshold rule every 30 s, so that the alerts raised can be predicted from the readings.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import servers
from servers import MosquittoServer, free_port
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

GATEWAYS = ("gw-a", "gw-b", "gw-c", "gw-d", "gw-e")
#: The gateway run in this process on the scenario clock.
SCENARIO_GATEWAY = "gw-e"
#: The gateway with a small buffer (300 rows), for the buffer-full fault.
SMALL_BUFFER_GATEWAY = "gw-d"
SMALL_BUFFER = {"max_rows": 300, "reserved_event_rows": 50}
#: How far behind the hub's clock the scenario gateway boots (a Pi without RTC: fake-hwclock).
SCENARIO_LAG_S = 600
ALARM_CHANNEL = "door.alarm"
ALARM_ABOVE = 0.5
OFFLINE_FOR_S = 20
#: The hub's ``gateway_stall_s``: a gateway silent this long while its status says online is
#: stalled (one gateway-offline alert). Far above the few seconds of wall time a gateway is
#: cut off in CI, far below the 10 real minutes of ``--system-long``.
STALL_S = 300
DEADLINE = 120.0

RULES = f"""\
[[rules]]
name = "door-open"
kind = "threshold"
severity = "warning"
match = {{ channel = "{ALARM_CHANNEL}" }}
above = {ALARM_ABOVE}

[[rules]]
name = "gateway-offline"
kind = "gateway_offline"
severity = "critical"
for_s = {OFFLINE_FOR_S}
"""


# --------------------------------------------------------------------------- gateway config

def _channel(cid: str, driver: str, params: str, quantity: str, interval: float,
             emulate: str | None = None) -> str:
    text = (f'\n[[channels]]\nid = "{cid}"\ndriver = "{driver}"\nparams = {params}\n'
            f'quantity = "{quantity}"\ninterval = {interval}\n')
    if emulate:
        text += f"emulate = {emulate}\n"
    return text


def channels_toml(index: int) -> str:
    """Return the 50 channels of gateway number ``index``.

    I2C: two BME280 (3 quantities each), two SHT3x (2 each), six INA219 and an ADS1115 with
    four inputs (20 channels, every 5 s); 1-wire: six DS18B20 (every 10 s); serial: a Modbus
    RTU chiller with three points (every 5 s); BLE: a RuuviTag (3) and a BTHome sensor (2),
    every 5 s; GPIO: 15 contacts every 2 s and the ``door.alarm`` contact every second, a
    square wave high for 9 s of every 30 s. About 15 readings/s per gateway.
    """
    out = []
    for addr, name in ((0x76, "room"), (0x77, "hall")):
        for q, mean in (("temperature", 21.0), ("humidity", 45.0), ("pressure", 101325.0)):
            out.append(_channel(f"{name}.{q}", "bme280", f"{{ bus = 1, address = {addr} }}", q, 5,
                                f"{{ mean = {mean}, amplitude = {mean / 50:.3f}, period_s = 600, noise = 0.01 }}"))
    for addr, name in ((0x44, "fridge1"), (0x45, "fridge2")):
        for q, mean in (("temperature", 4.5), ("humidity", 60.0)):
            out.append(_channel(f"{name}.{q}", "sht3x", f"{{ bus = 1, address = {addr} }}", q, 5,
                                f"{{ mean = {mean}, amplitude = 0.5, period_s = 900 }}"))
    # INA219 addresses clear of the SHT3x (0x44, 0x45) and the ADS1115 (0x48).
    for i, addr in enumerate((0x40, 0x41, 0x42, 0x43, 0x4C, 0x4D)):
        out.append(_channel(f"dock{i}.current", "ina219",
                            f"{{ bus = 1, address = {addr}, shunt_ohms = 0.1, max_current_a = 2.0 }}",
                            "current", 5, f"{{ mean = 0.4, amplitude = 0.2, period_s = {120 + 10 * i} }}"))
    for i in range(4):
        out.append(_channel(f"gas{i}.voltage", "ads1115", f'{{ address = 72, channel = "a{i}" }}', "voltage", 5,
                            f"{{ mean = {1.0 + i * 0.5}, amplitude = 0.1, period_s = 300 }}"))
    for i in range(6):
        out.append(_channel(f"probe{i}.temp", "ds18b20", f'{{ device_id = "28-0000{index:02x}{i:02x}a1b2" }}',
                            "temperature", 10, f"{{ mean = {3.0 + i}, amplitude = 0.3, period_s = 700 }}"))
    chiller = ('{ port = "/dev/ttyUSB0", baudrate = 19200, unit = 3, timeout_s = 0.5, retries = 1, points = ['
               '{ quantity = "supply_temperature", address = 16, kind = "input", type = "float32", unit = "degC" }, '
               '{ quantity = "return_temperature", address = 18, kind = "input", type = "float32", unit = "degC" }, '
               '{ quantity = "flow", address = 32, type = "int16", scale = 0.1, unit = "L/min" } ] }')
    for q, mean in (("supply_temperature", 6.5), ("return_temperature", 11.0), ("flow", 12.0)):
        out.append(_channel(f"chiller.{q}", "modbus_rtu", chiller, q, 5,
                            f"{{ mean = {mean}, amplitude = 0.5, period_s = 400 }}"))
    ruuvi = f'{{ address = "CB:B8:33:4C:88:{0x40 + index:02X}" }}'
    for q in ("temperature", "humidity", "pressure"):
        out.append(_channel(f"ruuvi.{q}", "ruuvitag", ruuvi, q, 5))
    bthome = f'{{ address = "54:48:E6:8F:80:{0xA0 + index:02X}" }}'
    for q in ("temperature", "humidity"):
        out.append(_channel(f"bthome.{q}", "bthome", bthome, q, 5))
    for pin in range(15):
        out.append(_channel(f"contact{pin}.state", "digital_input", f"{{ pin = {pin + 2} }}", "state", 2,
                            f'{{ kind = "square", period_s = {40 + pin * 3}, duty = 0.25 }}'))
    out.append(_channel(ALARM_CHANNEL, "digital_input", "{ pin = 27 }", "state", 1,
                        f'{{ kind = "square", period_s = 30, duty = 0.3, phase_s = {index * 4} }}'))
    assert len(out) == 50, len(out)
    return "".join(out)


def gateway_toml(gateway_id: str, index: int, data_dir: Path, broker_url: str, ca_file: Path,
                 credentials: Path) -> str:
    """Return the config file of one gateway (emulated hardware, journal on)."""
    buffer = "\n".join(f"{k} = {v}" for k, v in SMALL_BUFFER.items()) if gateway_id == SMALL_BUFFER_GATEWAY else ""
    return textwrap.dedent(f"""\
        gateway_id = "{gateway_id}"
        data_dir = "{data_dir}"
        [broker]
        url = "{broker_url}"
        ca_file = "{ca_file}"
        credentials_file = "{credentials}"
        keepalive = 10
        [hardware]
        backend = "emulated"
        emulation_seed = {index}
        emulation_root = "{data_dir.parent / 'emulation'}"
        [buffer]
        commit_interval = 0.5
        synchronous = "normal"
        journal = true
        {buffer}
        [forwarder]
        batch_max_age = 0.5
        backoff_min = 0.2
        backoff_max = 2.0
        [health]
        interval = 0
        """) + channels_toml(index)


# --------------------------------------------------------------------------- helpers

def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.25,
               explain: Callable[[], str] | None = None):
    """Poll ``predicate`` until it returns something truthy (the suite's one waiter); fail naming
    ``what`` at the deadline, with ``explain()`` appended."""
    try:
        return wait_for(predicate, timeout, what, interval=interval)
    except AssertionError as exc:
        if explain is None:
            raise
        raise AssertionError(f"{exc}\n{explain()}") from None


def tail(path: Path, lines: int = 40) -> str:
    """Return the last lines of a log file."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(unreadable: {exc})"
    return "\n".join(text[-lines:])


def write_secret(path: Path, text: str) -> Path:
    """Write a file readable by its owner only."""
    path.write_text(text)
    path.chmod(0o600)
    return path


def env() -> dict[str, str]:
    """Environment for child processes: this source tree first on the path, unbuffered output."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("WARDLINK_")}
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    e["PYTHONUNBUFFERED"] = "1"
    return e


class Child:
    """A child process of the plant with its log file; stop (SIGTERM), kill -9, restart."""

    def __init__(self, name: str, cmd: list[str], log_path: Path) -> None:
        self.name, self.cmd, self.log_path = name, cmd, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> Child:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=ROOT, env=env(), start_new_session=True)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.running, f"{self.name} is not running:\n{tail(self.log_path)}"
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(20) == -signal.SIGKILL

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


# --------------------------------------------------------------------------- scenario gateway

class ScenarioGateway:
    """Gateway E: the real Gateway on its own event loop thread, sampling on a ManualClock.

    The driver advances the clock in 1 s steps, reading every due channel at each step, until
    it stands ``lag_s`` behind the wall clock; lowering ``lag_s`` makes that much gateway time
    pass as fast as the emulated sensors can be read.
    """

    def __init__(self, config_path: Path, lag_s: float) -> None:
        from wardlink.clock import ManualClock

        self.config_path = config_path
        self.lag_s = lag_s
        self.clock = ManualClock(start=float(int(time.time() - lag_s)))
        self.gateway = None
        self.steps = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="scenario-gateway", daemon=True)

    def start(self) -> ScenarioGateway:
        self._thread.start()
        wait_until(lambda: self._started.is_set() or self.error, 60, "the scenario gateway to start")
        if self.error:
            raise self.error
        return self

    def _main(self) -> None:
        import logging

        # The gateway's log goes where the other gateways' logs are, for failure reports.
        handler = logging.FileHandler(self.config_path.parent / "gateway.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        edge_log = logging.getLogger("wardlink.edge")
        edge_log.addHandler(handler)
        edge_log.setLevel(logging.INFO)
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.error = exc
        finally:
            edge_log.removeHandler(handler)
            handler.close()

    async def _run(self) -> None:
        from wardlink.edge.config import load_config
        from wardlink.edge.gateway import Gateway

        self._loop = asyncio.get_running_loop()
        self.gateway = Gateway(load_config(self.config_path), clock=self.clock, sample=False)
        await self.gateway.start()
        self._started.set()
        try:
            while not self._stop.is_set():
                ran = 0
                while self.clock.now() + 1 <= time.time() - self.lag_s and not self._stop.is_set():
                    self.clock.advance(1.0)
                    tasks = self.gateway.sampler.sample_due()
                    if tasks:
                        await asyncio.gather(*tasks)
                    self.steps += 1
                    ran += 1
                    if ran % 30 == 0:
                        await self.gateway.commit()
                await asyncio.sleep(0.05)
        finally:
            await self.gateway.stop()

    def call(self, coro_fn, timeout: float = 30):
        """Run ``coro_fn()`` on the gateway's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(timeout)

    @property
    def behind_s(self) -> float:
        """Return how far the gateway clock stands behind the wall clock, in seconds."""
        return time.time() - self.clock.now()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


# --------------------------------------------------------------------------- the plant

@dataclass
class GatewayHandle:
    """One gateway: its id, number, directories, config, and how it runs."""

    gateway_id: str
    index: int
    home: Path
    password: str
    child: Child | None = None
    scenario: ScenarioGateway | None = None

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def config_path(self) -> Path:
        return self.home / "gateway.toml"

    @property
    def log_path(self) -> Path:
        return self.home / "gateway.log"


@dataclass
class Plant:
    """Everything started by :func:`start_plant`; tests inject faults through it."""

    home: Path
    broker: MosquittoServer
    tls_port: int
    admin_password: str
    hub_password: str
    ca_file: Path
    influx: object  # servers.InfluxServer
    influx_db: str
    postgres: object  # servers.PostgresServer
    pg_db: str
    hub_config: Path
    web_port: int = 0
    workers: list[Child] = field(default_factory=list)
    scheduler: Child | None = None
    web: Child | None = None
    gateways: dict[str, GatewayHandle] = field(default_factory=dict)
    #: Gateway-offline alerts the faults so far must have raised: {gateway: count}.
    offline_alerts: collections.Counter = field(default_factory=collections.Counter)
    #: Dead letters the faults so far must have caused: {(gateway, reason): messages}.
    dead_letters: collections.Counter = field(default_factory=collections.Counter)
    _engine: object = None

    # -- relational store
    @property
    def db_url(self) -> str:
        return self.postgres.sqlalchemy_url(self.pg_db)

    def sql(self, statement: str, **params) -> list:
        """Run a read-only SQL statement on the hub's database (a fresh connection each time)."""
        with self.postgres.connect(self.pg_db) as conn:
            return conn.execute(statement, params).fetchall()

    # -- broker identities
    def identities(self):
        from wardlink.provisioning.dynsec import DynsecClient, DynsecIdentities
        from wardlink.provisioning.mqttadmin import BrokerAddress

        client = DynsecClient(BrokerAddress(self.broker.host, self.broker.port), "wardlink-admin",
                              self.admin_password, timeout=20).open()
        return client, DynsecIdentities(client)

    def set_enabled(self, gateway_id: str, enabled: bool) -> None:
        """Enable or disable a gateway's broker login (disabling disconnects it on the spot)."""
        client, ids = self.identities()
        try:
            ids.set_enabled(gateway_id, enabled)
        finally:
            client.close()

    # -- the journal: readings sampled
    def journal(self, gateway_id: str) -> dict[tuple[str, int], tuple[int, float | None]]:
        """Return {(channel, ts): (row_id, value)} of every reading the gateway committed."""
        path = self.gateways[gateway_id].data_dir / "journal.db"
        if not path.exists():
            return {}
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return {(ch, ts): (rid, value) for rid, ch, ts, value in
                    conn.execute("SELECT row_id, channel, ts, value FROM readings")}
        finally:
            conn.close()

    def buffer_stats(self, gateway_id: str):
        from wardlink.edge.buffer import read_stats

        return read_stats(self.gateways[gateway_id].data_dir)

    # -- InfluxDB
    def stored(self, gateway_id: str) -> collections.Counter:
        """Return a Counter {(channel, ts, value): copies} of the gateway's points in InfluxDB.

        Every measurement is read, so a reading filed under two series counts twice.
        """
        result = self.influx.query(f"SELECT \"value\", \"quality\" FROM /.*/ WHERE \"gateway\" = '{gateway_id}' "
                                   f"GROUP BY \"channel\"", self.influx_db)
        found: collections.Counter = collections.Counter()
        for res in result.get("results", []):
            for series in res.get("series", []):
                channel = series["tags"]["channel"]
                cols = series["columns"]
                t, v = cols.index("time"), cols.index("value")
                for row in series["values"]:
                    found[(channel, row[t], row[v])] += 1
        return found

    # -- processes
    def hub_cmd(self, *args: str) -> list[str]:
        return [PYTHON, "-m", "wardlink.hub.cli", "--config", str(self.hub_config), *args]

    def worker(self, n: int) -> Child:
        return Child(f"ingest-{n}", self.hub_cmd("hub", "ingest", "--client-id", f"system-ingest-{n}",
                                                 "--group", "ingest"), self.home / f"ingest-{n}.log")

    def subscriptions_seen(self, client_id: str, since: int) -> bool:
        """Return True once the broker logged the worker's telemetry subscription after offset ``since``."""
        with open(self.broker.log_path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
        return any(client_id in line and "$share/ingest/wardlink/v1/+/telemetry" in line
                   for line in text.splitlines())

    def start_worker(self, n: int, child: Child | None = None) -> Child:
        """Start ingest worker ``n`` and wait until the broker has its subscriptions."""
        since = self.broker.log_path.stat().st_size
        child = (child or self.worker(n)).start()
        wait_until(lambda: self.subscriptions_seen(f"system-ingest-{n}", since) or not child.running,
                   DEADLINE, f"ingest worker {n} to subscribe", explain=lambda: tail(child.log_path))
        assert child.running, tail(child.log_path)
        return child

    def gateway_child(self, gw: GatewayHandle) -> Child:
        return Child(gw.gateway_id, [PYTHON, "-m", "wardlink.edge.cli", "run", "--config", str(gw.config_path)],
                     gw.log_path)

    def online(self, gateway_id: str) -> bool:
        rows = self.sql("SELECT state, state_received_ms FROM gateway_links WHERE gateway = %(g)s",
                        g=gateway_id)
        return bool(rows) and rows[0][0] == "online"

    def web_get(self, path: str, token: str | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.web_port}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, {}
        except OSError:
            return 0, {}

    def logs(self) -> str:
        """Return the tails of every log of the plant, for failure reports."""
        parts = []
        for child in [*self.workers, self.scheduler, self.web]:
            if child is not None:
                parts.append(f"--- {child.name} ({'running' if child.running else 'stopped'})\n"
                             f"{tail(child.log_path, 25)}")
        for gw in self.gateways.values():
            parts.append(f"--- {gw.gateway_id}\n{tail(gw.log_path, 15)}")
        parts.append(f"--- mosquitto\n{tail(self.broker.log_path, 25)}")
        return "\n".join(parts)

    def close(self) -> None:
        for gw in self.gateways.values():
            if gw.child is not None:
                gw.child.stop()
            if gw.scenario is not None:
                gw.scenario.stop()
        for child in [self.scheduler, self.web, *self.workers]:
            if child is not None:
                child.stop()
        self.broker.close()


def start_plant(home: Path, influx_server, postgres_server) -> Plant:
    """Start the whole production shape (see the module docstring) and return it running."""
    from wardlink.hub.db import open_engine, upgrade
    from wardlink.hub.runtime import sync_ruleset
    from wardlink.provisioning.broker import find_dynsec_plugin
    from wardlink.provisioning.certs import make_certificates
    from wardlink.provisioning.dynsec import initial_config
    from wardlink.provisioning.passwords import generate_password

    home.mkdir(parents=True, exist_ok=True)
    certs = make_certificates(home / "certs", ips=["127.0.0.1"], dns_names=["localhost"])
    admin_password, hub_password = generate_password(), generate_password()
    state = home / "dynamic-security.json"
    state.write_text(json.dumps(initial_config(admin_password, hub_password)))
    plugin = find_dynsec_plugin()
    if plugin is None:
        raise servers.ServerNotFound("mosquitto_dynamic_security.so", "mosquitto")
    tls_port = free_port()
    broker = MosquittoServer(home / "mosquitto", extra_config=[
        f"plugin {plugin}",
        f"plugin_opt_config_file {state}",
        "allow_anonymous false",
        "log_type subscribe",
        f"listener {tls_port} 127.0.0.1",
        f"cafile {certs.ca_cert}",
        f"certfile {certs.server_cert}",
        f"keyfile {certs.server_key}",
    ])
    broker.start()

    influx_db = influx_server.create_database(f"system_{os.getpid()}_{int(time.time())}")
    pg_db = postgres_server.create_database(f"system_{os.getpid()}_{int(time.time())}")
    web_port = free_port()
    hub_home = home / "hub"
    hub_home.mkdir()
    (hub_home / "rules.toml").write_text(RULES)
    write_secret(hub_home / "mqtt.secret", hub_password)
    hub_config = hub_home / "hub.toml"
    hub_config.write_text(textwrap.dedent(f"""\
        [hub]
        data_dir = "{hub_home / 'data'}"
        database_url = "{postgres_server.sqlalchemy_url(pg_db)}"
        telemetry = "influxdb"
        influx_url = "{influx_server.url}"
        influx_database = "{influx_db}"
        mqtt_url = "mqtts://127.0.0.1:{tls_port}"
        mqtt_ca_file = "{certs.ca_cert}"
        mqtt_username = "wardlink-hub"
        mqtt_password_file = "{hub_home / 'mqtt.secret'}"
        mqtt_share_group = "ingest"
        web_port = {web_port}
        secure_cookies = false
        two_factor_roles = ""
        rules_file = "{hub_home / 'rules.toml'}"
        gateway_stall_s = {STALL_S}
        """))
    (hub_home / "data").mkdir()
    plant = Plant(home, broker, tls_port, admin_password, hub_password, Path(certs.ca_cert), influx_server,
                  influx_db, postgres_server, pg_db, hub_config, web_port)
    try:
        upgrade(plant.db_url)
        engine = open_engine(plant.db_url)
        try:
            sync_ruleset(engine, str(hub_home / "rules.toml"))
        finally:
            engine.dispose()

        client, ids = plant.identities()
        try:
            for i, gid in enumerate(GATEWAYS, start=1):
                password = generate_password()
                ids.add_gateway(gid, password)
                gw = GatewayHandle(gid, i, home / gid, password)
                gw.home.mkdir()
                secret = write_secret(gw.home / "gateway.secret", f"username={gid}\npassword={password}\n")
                gw.config_path.write_text(gateway_toml(gid, i, gw.data_dir, f"mqtts://127.0.0.1:{tls_port}",
                                                       plant.ca_file, secret))
                plant.gateways[gid] = gw
        finally:
            client.close()

        plant.workers = [plant.start_worker(1), plant.start_worker(2)]
        plant.scheduler = Child("scheduler", plant.hub_cmd("hub", "scheduler", "--round", "2"),
                                home / "scheduler.log").start()
        plant.web = Child("web", plant.hub_cmd("hub", "web", "--port", str(web_port), "--threads", "2"),
                          home / "web.log").start()
        for gw in plant.gateways.values():
            if gw.gateway_id == SCENARIO_GATEWAY:
                gw.scenario = ScenarioGateway(gw.config_path, SCENARIO_LAG_S).start()
            else:
                gw.child = plant.gateway_child(gw).start()
        wait_until(lambda: plant.web_get("/api/v1/health")[0] == 200, DEADLINE, "the web app's health check",
                   explain=lambda: tail(plant.web.log_path))
        for gid in GATEWAYS:
            wait_until(lambda: plant.online(gid), DEADLINE, f"{gid} to be online at the hub", explain=plant.logs)
    except BaseException:
        plant.close()
        raise
    return plant


# --------------------------------------------------------------------------- checks

@dataclass
class ReadingCheck:
    """What one gateway's comparison found."""

    gateway_id: str
    sampled: int
    stored: int
    dropped: int
    #: (ts, value) of the stored door.alarm readings up to ``cut_ts``, in time order.
    door: list = field(default_factory=list)
    #: The newest door.alarm timestamp of the first journal snapshot: alerts are judged up to it.
    cut_ts: int = 0


def dropped_rows(plant: Plant, gateway_id: str) -> set[int]:
    """Return the buffer row ids the gateway reported dropped (its buffer.overflow gap markers).

    A gap marker says: every reading of the buffer with an id in first_id..last_id was dropped.
    """
    rows = plant.sql("SELECT data FROM ingest_events WHERE gateway = %(g)s AND type = 'buffer.overflow'",
                     g=gateway_id)
    ids: set[int] = set()
    for (data,) in rows:
        data = data if isinstance(data, dict) else json.loads(data)
        ids.update(range(int(data["first_id"]), int(data["last_id"]) + 1))
    return ids


def compare_readings(plant: Plant, gateway_id: str, timeout: float = DEADLINE) -> ReadingCheck:
    """Check that InfluxDB holds exactly the readings the gateway sampled, each once.

    A live system never stands still, so the comparison is made against two snapshots of the
    journal: everything committed before the first (``before``) must be stored, and everything
    stored must be in the second (``after``, taken after reading InfluxDB): nothing lost,
    nothing invented. Readings the gateway reported dropped (buffer full) are excepted from
    the first and allowed in the second (a dropped reading already in flight may arrive).
    """
    before = plant.journal(gateway_id)
    state: dict = {}

    def complete() -> bool:
        dropped = dropped_rows(plant, gateway_id)
        stored = plant.stored(gateway_id)
        state.update(stored=stored, dropped=dropped)
        have = {(ch, ts) for ch, ts, _ in stored}
        missing = [k for k, (rid, _) in before.items() if k not in have and rid not in dropped]
        state["missing"] = missing
        return not missing

    def explain() -> str:
        missing = sorted(state.get("missing", []), key=lambda k: k[1])
        return (f"{gateway_id}: {len(missing)} of {len(before)} sampled readings not in InfluxDB, "
                f"e.g. {missing[:5]}\n{plant.logs()}")

    wait_until(complete, timeout, f"InfluxDB to hold every reading {gateway_id} sampled", interval=1.0,
               explain=explain)
    after = plant.journal(gateway_id)
    stored, dropped = state["stored"], state["dropped"]
    duplicates = {k: n for k, n in stored.items() if n > 1}
    assert not duplicates, f"{gateway_id}: points stored more than once: {list(duplicates.items())[:5]}"
    per_key = collections.Counter((ch, ts) for ch, ts, _ in stored)
    assert max(per_key.values(), default=1) == 1, f"{gateway_id}: a reading stored with two values"
    invented = [(ch, ts, v) for ch, ts, v in stored
                if (ch, ts) not in after or not _same(after[(ch, ts)][1], v)]
    assert not invented, f"{gateway_id}: points in InfluxDB that the gateway never sampled: {invented[:5]}"
    # The journal's readings that are stored equal the stored points: set equality modulo drops.
    expected_now = {k for k, (rid, _) in after.items() if rid not in dropped}
    lost = {k for k in before if k in expected_now} - set(per_key)
    assert not lost, f"{gateway_id}: lost {sorted(lost)[:5]}"
    dropped_stored = sum(1 for k in per_key if after[k][0] in dropped)
    cut = max((ts for ch, ts in before if ch == ALARM_CHANNEL), default=0)
    door = sorted((ts, v) for ch, ts, v in stored if ch == ALARM_CHANNEL and ts <= cut)
    return ReadingCheck(gateway_id, len(before), len(per_key), len(dropped) - dropped_stored, door, cut)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a))


def compare_all(plant: Plant) -> list[ReadingCheck]:
    """Run :func:`compare_readings` for every gateway; print and return the figures."""
    results = [compare_readings(plant, gid) for gid in GATEWAYS]
    for r in results:
        print(f"{r.gateway_id}: {r.sampled} sampled, {r.stored} stored, {r.dropped} dropped by the gateway")
    return results


# --------------------------------------------------------------------------- alerts

@dataclass(frozen=True)
class Episode:
    """A span where door.alarm was above the limit, from the stored readings."""

    start_ts: int
    end_ts: int | None  # ts of the first reading back at or under the limit; None: still above


def door_episodes(door: list[tuple[int, float | None]]) -> list[Episode]:
    """Return the episodes the door-open rule (above 0.5, for_s 0, no hysteresis) must alert on.

    A reading above the limit opens an episode unless one is open; the next reading at or under
    the limit ends it. Failed reads (no value) neither open nor end anything.
    """
    episodes, start = [], None
    for ts, value in door:
        if value is None:
            continue
        if value > ALARM_ABOVE and start is None:
            start = ts
        elif value <= ALARM_ABOVE and start is not None:
            episodes.append(Episode(start, ts))
            start = None
    if start is not None:
        episodes.append(Episode(start, None))
    return episodes


def alerts(plant: Plant) -> list[dict]:
    """Return every alert with its rule, subject, state, historical flag and times (ms).

    ``opened_ms`` is when the condition began by the readings' clock (``condition_since``),
    not when the hub noticed.
    """
    rows = plant.sql("SELECT a.id, a.rule, l.subject, a.state, l.historical, l.condition_since, a.resolved_at "
                     "FROM alerts a JOIN alert_lifecycle l ON l.alert_id = a.id ORDER BY a.id")
    out = []
    for aid, rule, subject, state, historical, opened, resolved in rows:
        out.append({"id": aid, "rule": rule, "subject": subject, "state": state, "historical": bool(historical),
                    "opened_ms": _ms(opened), "resolved_ms": _ms(resolved)})
    return out


def _ms(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        import datetime as dt
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        import datetime as dt
        value = value.replace(tzinfo=dt.UTC)
    return round(value.timestamp() * 1000)


def door_alert_problems(plant: Plant, checks: list[ReadingCheck]) -> list[str]:
    """Compare the door-open alerts with the episodes in the stored readings; return differences.

    Each episode must have exactly one alert and each alert exactly one episode. The alert's
    ``condition_since`` is the episode's first reading, or a later reading of the same
    episode: the two workers of the shared group may evaluate a channel's readings out of
    order (after an outage both resume with a backlog); the rules engine keys each alert by its
    episode's start and replays the holes late readings fill in timestamp order (docs/hub.md,
    Scale-out), so this holds inside a backlog replayed over both workers too. An episode
    whose readings say it ended must have its alert resolved.
    """
    found = alerts(plant)
    problems = []
    for check in checks:
        subject = f"channel:{check.gateway_id}/{ALARM_CHANNEL}"
        episodes = door_episodes(check.door)
        mine = sorted((a for a in found if a["rule"] == "door-open" and a["subject"] == subject
                       and a["opened_ms"] is not None and a["opened_ms"] <= check.cut_ts),
                      key=lambda a: a["opened_ms"])
        matched = set()
        for e in episodes:
            inside = [a for a in mine
                      if e.start_ts <= a["opened_ms"] and (e.end_ts is None or a["opened_ms"] < e.end_ts)]
            matched.update(a["id"] for a in inside)
            if e.end_ts is not None:
                problems += [f"{subject}: alert {a['id']} of the episode {e} is {a['state']}"
                             for a in inside if a["state"] != "resolved"]
            if len(inside) != 1:
                problems.append(f"{subject}: episode {e} has {len(inside)} alerts "
                                f"{[(a['id'], a['opened_ms']) for a in inside]}")
        stray = [(a["id"], a["opened_ms"]) for a in mine if a["id"] not in matched]
        if stray:
            problems.append(f"{subject}: alerts outside any episode: {stray}; episodes {episodes}")
    return problems


def offline_alert_problems(plant: Plant) -> list[str]:
    """Compare gateway-offline alerts with those the faults so far called for (all resolved)."""
    found = collections.Counter()
    problems = []
    for a in alerts(plant):
        if a["rule"] == "gateway-offline":
            found[a["subject"]] += 1
            if a["state"] != "resolved":
                problems.append(f"gateway-offline alert {a['id']} for {a['subject']} is {a['state']}")
    want = collections.Counter({f"gateway:{g}": n for g, n in plant.offline_alerts.items() if n})
    if found != want:
        problems.append(f"gateway-offline alerts {dict(found)}, expected {dict(want)}")
    return problems


def dead_letters(plant: Plant) -> collections.Counter:
    """Return {(gateway, reason): messages} of the dead-letter table."""
    rows = plant.sql("SELECT gateway, reason, sum(count) FROM ingest_dead_letters GROUP BY gateway, reason")
    return collections.Counter({(g, r): int(n) for g, r, n in rows})


def check_plant(plant: Plant) -> list[ReadingCheck]:
    """The end of every fault test: readings, alerts and dead letters are exactly as expected.

    1. For every gateway, InfluxDB holds each reading it sampled exactly once (set equality,
       modulo readings the gateway itself reported dropped).
    2. The door-open alerts are exactly the episodes in those readings (one alert per
       episode, opened at its first reading, resolved once the readings say so), and the
       gateway-offline alerts are exactly those the faults called for, all resolved.
    3. The dead letters are exactly those the faults called for.
    """
    checks = compare_all(plant)
    state: dict = {}

    def alerts_ok() -> bool:
        state["problems"] = door_alert_problems(plant, checks) + offline_alert_problems(plant)
        return not state["problems"]

    wait_until(alerts_ok, DEADLINE, "the alerts to match the readings", interval=1.0,
               explain=lambda: "\n".join(state["problems"]) + "\n" + plant.logs())
    assert dead_letters(plant) == plant.dead_letters, (dead_letters(plant), plant.dead_letters)
    for name, child in [("scheduler", plant.scheduler), ("web", plant.web)]:
        assert child.running, f"{name} died:\n{tail(child.log_path)}"
    return checks
