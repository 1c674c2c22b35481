"""Hub soak run: a fleet of gateways at a steady rate for many minutes; memory, lag and loss.

Starts its own Mosquitto and influxd (``tests/servers.py``) on free ports in a temporary
directory, and a relational store (an SQLite file there, or ``--database-url`` for a
PostgreSQL database) migrated with the hub's Alembic migrations and seeded with a site, wards,
assets, ``--gateways`` gateways of ``--channels`` channels, every channel bound to an asset,
and three threshold rules on the first ``--fridges`` channels of every gateway (refrigerator
temperatures; the readings stay in range, so the rules evaluate but do not fire).

The hub runs as in production: ``--workers`` (2) processes of ``wardlink hub ingest``,
configured through ``WARDLINK_*`` environment variables, in one shared-subscription group,
writing to influxd, with the rules engine the command builds as their listener.

The fleet: one publisher process per gateway, each a paho client that publishes protocol v1
telemetry batches of ``--per-message`` (1,000) readings with QoS 1 and at most 16 messages
awaiting PUBACK, as a gateway's forwarder does. The total rate is ``--rate`` (25,000
readings/s) split evenly over the gateways and channels; every channel gets readings at a
fixed spacing (10 ms at the defaults), stamped with the instant they were "taken", and a batch
is published by the wall clock just after its newest reading's instant. Pacing runs for
``--minutes`` (30).

Baseline, measured in the same run just before the load: the same gateways for
``--baseline-s`` (20) seconds with 4 % of their channels (2 of 50), each read as often and
batched as often as under load, so 4 % of the rate (1,000 readings/s) with the same reading
spacing and batching delay; its lag is the reference the load's lag is compared with
(``lag_p50_vs_baseline``, ``lag_p99_vs_baseline``). Its readings are counted with the rest.

Every ``--sample-s`` (5) seconds a row is printed: readings published and ingested per second
in the last interval, the lag, and the resident memory (``VmRSS`` from ``/proc/PID/status``)
of the broker, influxd, each worker and each publisher.

Lag is the *age of the newest visible reading*: once a second this process asks influxd for the
newest stored reading of channel ``ch00`` of every gateway (a ``last()`` over the last 10 s) and
takes, for the worst gateway, the time the answer arrived minus that reading's timestamp. A
reading is published at most one batch interval (0.2 s at the defaults) after its timestamp, and
the answer may be as old as the query's own duration (reported as ``lag_query_s``), so the figure
is an upper bound of publish-to-visible latency.

At the end the publishers stop, the run waits until the workers' counters (the ``workers``
table each worker updates every 5 s) show every published reading written and nothing pending,
then counts the points influxd holds per gateway and channel and compares them with what was
published. InfluxDB keeps one point per series and timestamp, so a count equal to the
published count means nothing is missing; ``duplicates`` are readings the workers wrote more
than once (their ``points_written`` beyond what was published, e.g. after a redelivery).

Memory growth: for each process, the least-squares slope of its RSS over the second half of the
publishing window (the first half is warm-up), in MB/min, and its RSS at 25/50/75/100 % of the
window. A process is flagged as growing when the fitted line rises over the second half by more
than ``--growth-pct`` (5) % of its RSS at mid-run and by more than 2 MB (a floor for allocator
noise), and each quarter of that half rises on its own at a quarter of the half's slope or
more: a trend keeps rising, while a single step (the allocator keeping the memory a burst
took) does not. An ingest worker warms up for about five minutes (its RSS climbs by about
10 MB, then stays flat), so in runs shorter than ten minutes the second half is still warm-up:
the 3-minute CI run passes ``--growth-pct 10``, which catches gross leaks only. The verdict
``no_rss_growth`` covers the hub's own processes and the broker (whose memory grows when the hub
does not keep up); influxd's memory follows the data it holds (its write cache fills and is
snapshotted to disk every few tens of seconds) and the publishers are the harness, so their
flags are reported but do not fail the run.

Exit status 1 when readings are missing, when any reading was written twice, when a hub or
broker process is flagged as growing, or when the achieved rate is below 90 % of ``--rate``.
The last line printed is one JSON object. Usage:

    python bench/soak.py [--minutes 30] [--rate 25000] [--gateways 5] [--channels 50]
                         [--per-message 1000] [--workers 2] [--sample-s 5] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MAX_INFLIGHT = 16  # a gateway forwarder's default window of messages awaiting PUBACK
WARDS = ("ICU", "ED", "THEATRE", "MAT", "PHARM", "CSSD", "WARD1")
OTHER_METRICS = ("humidity", "current", "pressure", "temperature")
FRIDGE_CATEGORY = "Medical refrigerator"
RULES = [
    {"name": "soak-fridge-high", "kind": "threshold", "severity": "warning", "above": 8.0, "hysteresis": 0.5,
     "match": {"metric": "temperature", "category": FRIDGE_CATEGORY}},
    {"name": "soak-fridge-critical", "kind": "threshold", "severity": "critical", "above": 12.0,
     "hysteresis": 0.5, "match": {"metric": "temperature", "category": FRIDGE_CATEGORY}},
    {"name": "soak-fridge-low", "kind": "threshold", "severity": "warning", "below": 2.0, "hysteresis": 0.5,
     "match": {"metric": "temperature", "category": FRIDGE_CATEGORY}},
]
LAG_CHANNEL = "ch00"  # a refrigerator temperature on every gateway
GROWTH_PCT = 5.0  # flag: the fitted RSS line rises more than this % over the second half...
GROWTH_FLOOR_MB = 2.0  # ...and more than this many MB
RATE_FLOOR = 0.9  # fail below this fraction of the target rate
DRAIN_TIMEOUT_S = 600.0
BASELINE_FRACTION = 0.04  # the baseline phase's share of the channels (and so of the rate)


# --------------------------------------------------------------------------- the gateways


def run_publisher(spec: dict) -> int:
    """One gateway: paced telemetry batches, QoS 1, a window of messages awaiting PUBACK.

    Prints ``stat`` lines (time, readings published, messages acknowledged, worst lateness) once
    a second and a ``done`` line at the end; both go to the parent on stdout.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    sys.path.insert(0, str(ROOT))
    from wardlink import protocol

    gateway, channels, per_message = spec["gateway"], spec["channels"], spec["per_message"]
    gateway_rate = spec["gateway_rate"]  # readings/s of this gateway
    spacing_ms = 1000.0 * channels / gateway_rate  # between two readings of one channel
    start, end, start_ms = spec["start"], spec["end"], spec["start_ms"]
    channel_ids = [f"ch{c:02d}" for c in range(channels)]
    fridges = spec["fridges"]
    acked = [0]
    connected = threading.Event()

    def on_publish(client, userdata, mid, reason_code, properties):
        acked[0] += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"soak-{gateway}", protocol=mqtt.MQTTv311)
    client.on_connect = lambda *a: connected.set()
    client.on_publish = on_publish
    client.max_inflight_messages_set(MAX_INFLIGHT)
    client.max_queued_messages_set(0)
    client.connect(spec["host"], spec["port"], keepalive=30)
    client.loop_start()
    if not connected.wait(30):
        print("error not connected", flush=True)
        return 1
    topic = protocol.topic(gateway, "telemetry")
    boot = f"soak-{uuid.uuid4().hex[:12]}"
    published = 0  # readings handed to the client
    messages = 0
    behind = 0.0
    next_stat = time.time() + 1.0
    while True:
        first = messages * per_message
        due = start + (first + per_message) / gateway_rate  # just after the newest reading's instant
        if due > end:
            break
        now = time.time()
        if due > now:
            time.sleep(due - now)
        else:
            behind = max(behind, now - due)
        rows = []
        for i in range(first, first + per_message):
            c = i % channels
            k = i // channels
            if c < fridges:
                value = round(4.0 + ((k * 7 + c * 13) % 200) / 100, 2)  # 4.00..5.99 degC: in range
            else:
                value = round(20.0 + ((k * 11 + c * 3) % 1000) / 100, 2)
            rows.append(protocol.Reading(channel_ids[c], start_ms + round(k * spacing_ms), value))
        messages += 1
        client.publish(topic, protocol.encode(protocol.TelemetryBatch(gateway, boot, messages, tuple(rows))),
                       qos=1)
        published += per_message
        now = time.time()
        if now >= next_stat:
            print(f"stat {now:.3f} {published} {acked[0]} {behind:.3f}", flush=True)
            next_stat = now + 1.0
    deadline = time.monotonic() + 120
    while acked[0] < messages and time.monotonic() < deadline:
        time.sleep(0.02)
    now = time.time()
    print(f"stat {now:.3f} {published} {acked[0]} {behind:.3f}", flush=True)
    print(f"done {now:.3f} {messages} {published} {acked[0]} {behind:.3f}", flush=True)
    client.disconnect()
    client.loop_stop()
    return 0


class Publisher:
    """A publisher process and what it last reported."""

    started: list[Publisher] = []  # every one, so that a failed run stops them all

    def __init__(self, spec: dict, log_dir: Path) -> None:
        self.gateway = spec["gateway"]
        prefix = "publisher" if spec["phase"] == "load" else spec["phase"]
        self.name = f"{prefix}-{self.gateway.rsplit('-', 1)[-1]}"
        self._stderr = open(log_dir / f"{self.name}.log", "wb")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--publisher", json.dumps(spec)],
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self.published = 0
        self.acked_messages = 0
        self.behind = 0.0
        self.done: dict | None = None
        self.error: str | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        Publisher.started.append(self)

    def _read(self) -> None:
        for line in self.proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "stat":
                _, published, acked, behind = rest.split()
                self.published, self.acked_messages, self.behind = int(published), int(acked), float(behind)
            elif kind == "done":
                at, messages, published, acked, behind = rest.split()
                self.done = {"at": float(at), "messages": int(messages), "readings": int(published),
                             "acked_messages": int(acked), "behind_s": float(behind)}
            elif kind == "error":
                self.error = rest

    def wait(self, timeout: float) -> dict:
        """Wait for the process to end; return its ``done`` figures."""
        self.proc.wait(timeout)
        self._reader.join(10)
        self._stderr.close()
        if self.done is None:
            raise SystemExit(f"{self.name} failed ({self.error or 'no done line'}, exit {self.proc.returncode})")
        return self.done


def expected_per_channel(readings: int, channels: int) -> list[int]:
    """Return how many of a gateway's first ``readings`` readings each channel got."""
    return [readings // channels + (1 if c < readings % channels else 0) for c in range(channels)]


# --------------------------------------------------------------------------- the hospital


def build_database(url: str, gateway_ids: list[str], channels: int, fridges: int) -> None:
    """Migrate the store and add wards, assets, the gateways, their bound channels and the rules."""
    from wardlink.hub.db import open_engine, session_scope, upgrade
    from wardlink.hub.db.models import Asset, Channel, ChannelBinding, Gateway
    from wardlink.hub.rules import parse_rules, sync_rules
    from wardlink.hub.services.people import org
    from wardlink.hub.services.actor import Actor
    from wardlink.clock import SystemClock

    upgrade(url)
    engine = open_engine(url)
    clock = SystemClock()
    actor = Actor.system("soak")
    now = datetime.now(UTC)
    since = datetime(2025, 1, 1, tzinfo=UTC)
    with session_scope(engine) as session:
        site = org.ensure_site(session, code="SOAK", name="Soak Hospital", actor=actor, clock=clock)
        wards = [org.ensure_department(session, site, code=code, name=f"Ward {code}", actor=actor, clock=clock)
                 for code in WARDS]
        for g, gateway_id in enumerate(gateway_ids):
            ward = wards[g % len(wards)]
            gateway = Gateway(gateway_id=gateway_id, name=f"Soak gateway {g}", department_id=ward.id,
                              enabled=True, created_at=now, updated_at=now)
            session.add(gateway)
            session.flush()
            for c in range(channels):
                fridge = c < fridges
                metric = "temperature" if fridge else OTHER_METRICS[c % len(OTHER_METRICS)]
                asset = Asset(tag=f"{gateway_id}-A{c:02d}", name=f"{'Refrigerator' if fridge else 'Sensor'} {g}.{c}",
                              category=FRIDGE_CATEGORY if fridge else "Environment monitor",
                              department_id=ward.id, created_at=now, updated_at=now)
                channel = Channel(gateway_pk=gateway.id, channel_id=f"ch{c:02d}", metric=metric,
                                  unit="degC" if metric == "temperature" else "", driver="soak", interval_s=0.01,
                                  created_at=now)
                session.add_all([asset, channel])
                session.flush()
                session.add(ChannelBinding(channel_pk=channel.id, asset_id=asset.id, metric=metric,
                                           valid_from=since, created_at=now))
        sync_rules(session, parse_rules({"rules": RULES}).rules, clock=clock)
    engine.dispose()


# --------------------------------------------------------------------------- the hub


class IngestProcess:
    """One ``wardlink hub ingest`` process, configured through the environment."""

    def __init__(self, index: int, env: dict, group: str, client_id: str, log_dir: Path) -> None:
        self.name = f"worker-{index}"
        self.client_id = client_id
        script = Path(sys.executable).parent / "wardlink"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "wardlink.hub.cli"]
        self._log = open(log_dir / f"{self.name}.log", "wb")
        self.log_path = log_dir / f"{self.name}.log"
        self.proc = subprocess.Popen([*command, "hub", "ingest", "--client-id", client_id, "--group", group],
                                     env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 120) -> int:
        """SIGTERM (the worker drains what it holds); return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._log.close()
        return code

    def log_tail(self, lines: int = 20) -> str:
        """Return the end of the worker's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def worker_env(work: Path, database_url: str, mqtt_url: str, influx_url: str, database: str) -> dict:
    """Return the environment of an ingest worker: this one without WARDLINK_*, plus the settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDLINK_")}
    env.update({
        "WARDLINK_DATA_DIR": str(work / "hub-data"),
        "WARDLINK_DATABASE_URL": database_url,
        "WARDLINK_TELEMETRY": "influxdb",
        "WARDLINK_INFLUX_URL": influx_url,
        "WARDLINK_INFLUX_DATABASE": database,
        "WARDLINK_MQTT_URL": mqtt_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    })
    (work / "hub-data").mkdir(exist_ok=True)
    return env


def publish_probe(host: str, port: int, gateway: str) -> None:
    """Leave a retained status on the broker: a worker that received it is subscribed."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from wardlink import protocol
    from wardlink.clock import SystemClock

    status = protocol.Status(gateway, "online", "soak-probe", SystemClock().now_ms())
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{gateway}-status", protocol=mqtt.MQTTv311)
    client.connect(host, port)
    client.loop_start()
    client.publish(protocol.topic(gateway, "status"), protocol.encode(status), qos=1, retain=True).wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


# --------------------------------------------------------------------------- measuring


def cpu_seconds(pid: int | None) -> float | None:
    """Return the user + system CPU seconds ``pid`` has used (``/proc/PID/stat``), or None if it is gone."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | None) -> float | None:
    """Return the resident set size of ``pid`` in MB (VmRSS), or None if it is gone."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class Influx:
    """The few InfluxQL queries the soak needs."""

    def __init__(self, url: str, database: str) -> None:
        import requests

        self._session = requests.Session()
        self._url = f"{url}/query"
        self._database = database

    def query(self, q: str, timeout: float = 120) -> list[dict]:
        """Return the series of the first statement's result."""
        resp = self._session.post(self._url, data={"q": q, "db": self._database, "epoch": "ms"}, timeout=timeout)
        resp.raise_for_status()
        result = resp.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"{q}: {result['error']}")
        return result.get("series", [])

    def newest(self, gateways: list[str], channel: str, window_s: int) -> dict[str, int]:
        """Return the newest timestamp of ``channel`` per gateway within the last ``window_s`` s."""
        series = self.query(f"SELECT last(value) FROM \"temperature\" WHERE channel = '{channel}' "
                            f"AND time > now() - {window_s}s GROUP BY gateway", timeout=30)
        return {s["tags"]["gateway"]: s["values"][0][0] for s in series if s["tags"]["gateway"] in gateways}

    def counts(self, gateway: str, start_ms: int, end_ms: int) -> dict[str, dict[str, int]]:
        """Return {measurement: {channel: points}} of one gateway between the bounds."""
        out: dict[str, dict[str, int]] = {}
        series = self.query(f"SELECT count(value) FROM /.*/ WHERE gateway = '{gateway}' "
                            f"AND time >= {start_ms}ms AND time <= {end_ms}ms GROUP BY channel")
        for s in series:
            out.setdefault(s["name"], {})[s["tags"]["channel"]] = s["values"][0][1]
        return out

    def close(self) -> None:
        self._session.close()


class LagSampler:
    """Once a second: the age of the newest reading of ``ch00`` visible in influxd, worst gateway."""

    def __init__(self, influx: Influx, gateways: list[str], start: float) -> None:
        self._influx = influx
        self._gateways = gateways
        self._start = start
        self.samples: list[tuple[float, float]] = []  # (time, lag s)
        self.errors = 0
        self.query_s: list[float] = []  # how long each query took (part of the lag figure)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            if time.time() < self._start + 2:  # no reading is due yet
                continue
            sent = time.time()
            try:
                newest = self._influx.newest(self._gateways, LAG_CHANNEL, 10)
                if len(newest) < len(self._gateways):  # some gateway more than 10 s behind
                    newest = self._influx.newest(self._gateways, LAG_CHANNEL, 3600)
            except Exception:  # influxd busy: count it, try again next second
                self.errors += 1
                continue
            now = time.time()
            self.query_s.append(now - sent)
            if len(newest) == len(self._gateways):
                self.samples.append((now, now - min(newest.values()) / 1000))
            else:
                self.samples.append((now, now - self._start))  # some gateway shows nothing at all yet

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(35)

    def last(self) -> float | None:
        """Return the latest lag sample in seconds."""
        return self.samples[-1][1] if self.samples else None


def worker_rows(records, client_ids: list[str]) -> dict[str, object]:
    """Return the counters rows of this run's workers, by client id."""
    return {row.client_id: row for row in records.workers() if row.client_id in client_ids}


def slope_per_min(points: list[tuple[float, float]]) -> float | None:
    """Return the least-squares slope of (seconds, MB) points in MB/min."""
    if len(points) < 3:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def percentile(values: list[float], q: float) -> float | None:
    """Return the ``q`` quantile (0..1) of ``values``, nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def memory_figures(samples: list[tuple[float, dict]], names: list[str], start: float, end: float,
                   growth_pct: float = GROWTH_PCT) -> dict:
    """Return per process: RSS at start, 25/50/75/100 % of the window, second-half slope, flag."""
    out = {}
    window = end - start
    in_window = [(t, rss) for t, rss in samples if start <= t <= end + 1]
    for name in names:
        series = [(t - start, rss[name]) for t, rss in in_window if rss.get(name) is not None]
        if not series:
            out[name] = {"rss_mb": None}
            continue

        def at(fraction: float) -> float:
            target = fraction * window
            return min(series, key=lambda p: abs(p[0] - target))[1]

        second = [p for p in series if p[0] >= window / 2]
        slope = slope_per_min(second)
        mid = at(0.5)
        rise = (slope or 0.0) * (window / 2) / 60
        # A trend keeps rising: each quarter of the second half must rise on its own at a
        # quarter of the half's slope or more, so that one step (the allocator keeping what a
        # burst took) does not read as growth.
        quarters = [slope_per_min([p for p in second if lo * window <= p[0] <= hi * window])
                    for lo, hi in ((0.5, 0.75), (0.75, 1.0 + 1 / window))]
        steady = slope is not None and all(q is not None and q >= slope / 4 for q in quarters)
        out[name] = {
            "rss_mb_start": series[0][1], "rss_mb_25": at(0.25), "rss_mb_50": mid, "rss_mb_75": at(0.75),
            "rss_mb_end": series[-1][1], "rss_mb_max": max(p[1] for p in series),
            "slope_mb_per_min_second_half": None if slope is None else round(slope, 3),
            "slope_mb_per_min_quarters_3_4": [None if q is None else round(q, 3) for q in quarters],
            "fitted_rise_mb_second_half": round(rise, 2),
            "growth": steady and rise > max(GROWTH_FLOOR_MB, growth_pct / 100 * mid),
        }
    return out


# --------------------------------------------------------------------------- the run


def main(argv=None) -> int:
    """Run the soak and print its figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of paced publishing (default: 30)")
    parser.add_argument("--rate", type=int, default=25_000, help="readings/s across the fleet (default: 25000)")
    parser.add_argument("--gateways", type=int, default=5, help="gateways, one publisher process each (default: 5)")
    parser.add_argument("--channels", type=int, default=50, help="channels per gateway (default: 50)")
    parser.add_argument("--fridges", type=int, default=10,
                        help="refrigerator channels per gateway, watched by the rules (default: 10)")
    parser.add_argument("--per-message", type=int, default=1000, help="readings per telemetry message (default: 1000)")
    parser.add_argument("--workers", type=int, default=2, help="ingest worker processes in one group (default: 2)")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between table rows (default: 5)")
    parser.add_argument("--baseline-s", type=float, default=20.0,
                        help="seconds of the low-rate baseline phase before the load; 0 skips it (default: 20)")
    parser.add_argument("--growth-pct", type=float, default=GROWTH_PCT,
                        help="flag a process whose fitted RSS rises more than this %% of its mid-run RSS over "
                             "the second half (default: 5; the 3-minute CI run uses 10, see docs/benchmarks.md)")
    parser.add_argument("--database-url", default=None,
                        help="relational store (e.g. postgresql+psycopg://...); default: an SQLite file")
    args = parser.parse_args(argv)
    per_channel_rate = args.rate / (args.gateways * args.channels)
    if not (1 <= args.gateways <= 100 and 1 <= args.channels <= 100 and 1 <= args.fridges <= args.channels):
        parser.error("need 1..100 gateways, 1..100 channels and 1 <= fridges <= channels (ch00 is the lag probe)")
    if not (0 < per_channel_rate <= 1000):
        parser.error("--rate: each channel gets rate/(gateways*channels) readings/s, which must be 0 < r <= 1000 "
                     "(timestamps are whole milliseconds)")
    if (not (1 <= args.per_message <= 5000) or args.minutes <= 0 or args.workers < 1 or args.sample_s <= 0
            or args.baseline_s < 0):
        parser.error("need 1 <= --per-message <= 5000, --minutes > 0, --workers >= 1, --sample-s > 0, "
                     "--baseline-s >= 0")

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from servers import InfluxServer, MosquittoServer

    from wardlink.hub.db import open_engine
    from wardlink.hub.ingest import IngestRecords

    tag = uuid.uuid4().hex[:6]
    gateway_ids = [f"soak-{tag}-gw{g:02d}" for g in range(args.gateways)]
    client_ids = [f"soak-{tag}-ingest-{i}" for i in range(args.workers)]
    load_start = [round(x, 2) for x in os.getloadavg()]
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="wardlink-soak-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        database_url = args.database_url or f"sqlite:///{work / 'wardlink.db'}"
        build_database(database_url, gateway_ids, args.channels, args.fridges)
        records = IngestRecords(open_engine(database_url))
        with MosquittoServer(work / "mosquitto") as mosquitto, InfluxServer(work / "influxd") as influxd:
            database = "wardlink_soak"
            influxd.create_database(database)
            publish_probe(mosquitto.host, mosquitto.port, f"soak-{tag}-probe")
            env = worker_env(work, database_url, mosquitto.url, influxd.url, database)
            workers = [IngestProcess(i, env, f"soak{tag}", cid, logs) for i, cid in enumerate(client_ids)]
            try:
                return run(args, work, logs, records, mosquitto, influxd, database, workers, gateway_ids,
                           client_ids, per_channel_rate, load_start, started_at)
            finally:
                for p in Publisher.started:
                    if p.proc.poll() is None:
                        p.proc.kill()
                        p.proc.wait(10)
                for w in workers:
                    if w.proc.poll() is None:
                        w.stop()
                records.engine.dispose()


def run(args, work, logs, records, mosquitto, influxd, database, workers, gateway_ids, client_ids,
        per_channel_rate, load_start, started_at) -> int:
    """Everything after the servers and workers started; return the exit status."""
    # Each worker publishes its counters row every 5 s; once ``received`` counts the retained
    # probe status, its subscriptions (all sent in one SUBSCRIBE) are in place.
    deadline = time.monotonic() + 120
    while True:
        rows = worker_rows(records, client_ids)
        if len(rows) == len(client_ids) and all(r.received >= 1 for r in rows.values()):
            break
        dead = [w for w in workers if w.proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            detail = "\n".join(f"{w.name} exit {w.proc.poll()}:\n{w.log_tail()}" for w in workers)
            raise SystemExit(f"ingest workers did not subscribe:\n{detail}")
        time.sleep(0.5)
    probe_messages = {cid: rows[cid].received for cid in client_ids}

    influx = Influx(influxd.url, database)

    def fleet(phase: str, rate: float, channels: int, per_message: int, start: float, end: float) -> list[Publisher]:
        return [Publisher({"gateway": g, "phase": phase, "host": mosquitto.host, "port": mosquitto.port,
                           "channels": channels, "fridges": args.fridges, "per_message": per_message,
                           "gateway_rate": rate / args.gateways, "start": start, "end": end,
                           "start_ms": int(start * 1000)}, logs) for g in gateway_ids]

    # Baseline: the same fleet at a small fraction of the rate, before the load: a fraction of the
    # channels, each read as often, in batches published as often, so the lag probe sees the same
    # reading spacing and batching delay with a fraction of the work.
    base_start = math.ceil(time.time()) + 1.0
    lag = LagSampler(influx, gateway_ids, base_start)
    base_done = []
    base_channels = max(1, round(args.channels * BASELINE_FRACTION))
    base_rate = args.rate * base_channels / args.channels
    if args.baseline_s > 0:
        print(f"baseline: {base_rate:g} readings/s for {args.baseline_s:g} s", flush=True)
        base_pubs = fleet("baseline", base_rate, base_channels,
                          max(1, round(args.per_message * base_channels / args.channels)),
                          base_start, base_start + args.baseline_s)
        base_done = [p.wait(args.baseline_s + 180) for p in base_pubs]
    base_end = max((d["at"] for d in base_done), default=base_start)
    start = math.ceil(time.time()) + 2.0
    end = start + args.minutes * 60
    publishers = fleet("load", args.rate, args.channels, args.per_message, start, end)
    procs = {"broker": lambda: mosquitto.pid, "influxd": lambda: influxd.pid}
    for w in workers:
        procs[w.name] = (lambda p=w.proc: p.pid if p.poll() is None else None)
    for p in publishers:
        procs[p.name] = (lambda q=p.proc: q.pid if q.poll() is None else None)
    names = list(procs)
    cpu_first = cpu_last = None  # (time, CPU seconds by process) at the first and last sample under load
    samples: list[tuple[float, dict]] = []
    rows_out: list[dict] = []

    header = f"{'t_s':>6} {'pub/s':>7} {'ingest/s':>8} {'lag_s':>6} " + " ".join(f"{n[:11]:>11}" for n in names)
    print(f"soak: {args.rate} readings/s from {args.gateways} gateways x {args.channels} channels, "
          f"{args.workers} workers, {args.minutes:g} min; RSS in MB", flush=True)
    print(header, flush=True)
    last_t, last_pub = start, 0
    last_written = sum(r.points_written for r in worker_rows(records, client_ids).values())
    next_sample = start + args.sample_s
    while True:
        now = time.time()
        if now < next_sample:
            time.sleep(min(next_sample - now, 0.5))
            if all(p.proc.poll() is not None for p in publishers):
                break
            continue
        next_sample += args.sample_s
        rss = {name: rss_mb(pid()) for name, pid in procs.items()}
        if cpu_first is None:
            cpu_first = (time.time(), {name: cpu_seconds(pid()) for name, pid in procs.items()})
        elif time.time() <= end + args.sample_s:
            cpu_last = (time.time(), {name: cpu_seconds(pid()) for name, pid in procs.items()})
        t = time.time()
        samples.append((t, rss))
        published = sum(p.published for p in publishers)
        try:
            written = sum(r.points_written for r in worker_rows(records, client_ids).values())
        except Exception:
            written = last_written
        dt = t - last_t
        row = {"t_s": round(t - start, 1), "published_per_s": round((published - last_pub) / dt),
               "ingested_per_s": round((written - last_written) / dt),
               "lag_s": None if lag.last() is None else round(lag.last(), 2), "rss_mb": rss}
        rows_out.append(row)
        last_t, last_pub, last_written = t, published, written
        cells = " ".join(f"{'-' if v is None else v:>11}" for v in rss.values())
        print(f"{row['t_s']:>6} {row['published_per_s']:>7} {row['ingested_per_s']:>8} "
              f"{'-' if row['lag_s'] is None else row['lag_s']:>6} {cells}", flush=True)
        dead = [w.name for w in workers if w.proc.poll() is not None]
        if dead:
            raise SystemExit(f"ingest worker(s) {dead} exited during the run:\n"
                             + "\n".join(w.log_tail() for w in workers))
        if t > end + 150:  # the publishers should have ended long ago
            break

    done = [p.wait(180) for p in publishers]
    publish_end = max(d["at"] for d in done)
    load_readings = sum(d["readings"] for d in done)
    base_readings = sum(d["readings"] for d in base_done)
    published_readings = load_readings + base_readings
    published_messages = sum(d["messages"] for d in done + base_done)
    unacked_by_broker = sum(d["messages"] - d["acked_messages"] for d in done + base_done)
    behind = max(d["behind_s"] for d in done)
    achieved = load_readings / (end - start)

    # The drain: until the workers' rows show every reading written and nothing pending.
    drain_started = time.time()
    drained = False
    drain_deadline = time.monotonic() + DRAIN_TIMEOUT_S
    rows = {}
    while time.monotonic() < drain_deadline:
        rows = worker_rows(records, client_ids)
        fresh = all(r.updated_ms / 1000 > publish_end for r in rows.values())
        if (fresh and len(rows) == len(client_ids) and sum(r.points_written for r in rows.values())
                >= published_readings and all(r.pending == 0 for r in rows.values())):
            drained = True
            break
        time.sleep(1.0)
    drain_s = time.time() - drain_started
    lag.stop()
    # Keep the memory samples of the drain too (they show whether memory is given back).
    samples.append((time.time(), {name: rss_mb(pid()) for name, pid in procs.items()}))

    # Loss: points per gateway and channel against what each gateway published.
    missing = extra = unbound = 0
    per_gateway = {}
    for i, (g, d) in enumerate(zip(gateway_ids, done)):
        counts = influx.counts(g, int(base_start * 1000) - 1000, int(publish_end * 1000) + 1000)
        unbound += sum(counts.pop("unbound", {}).values())
        got: dict[str, int] = {}
        for by_channel in counts.values():
            for channel, n in by_channel.items():
                got[channel] = got.get(channel, 0) + n
        want = expected_per_channel(d["readings"], args.channels)
        if base_done:
            base = expected_per_channel(base_done[i]["readings"], base_channels)
            want = [w + (base[c] if c < base_channels else 0) for c, w in enumerate(want)]
        g_missing = sum(max(0, w - got.get(f"ch{c:02d}", 0)) for c, w in enumerate(want))
        g_extra = sum(max(0, got.get(f"ch{c:02d}", 0) - w) for c, w in enumerate(want))
        missing += g_missing
        extra += g_extra
        per_gateway[g] = {"published": sum(want), "stored": sum(got.values()), "missing": g_missing}
    stored = sum(v["stored"] for v in per_gateway.values())
    influx.close()

    memory = memory_figures(samples, names, start, end, args.growth_pct)
    cpu = {}
    if cpu_first and cpu_last and cpu_last[0] > cpu_first[0]:
        for name in names:
            a, b = cpu_first[1].get(name), cpu_last[1].get(name)
            if a is not None and b is not None:
                cpu[name] = round(100 * (b - a) / (cpu_last[0] - cpu_first[0]), 1)
    codes = {w.name: w.stop() for w in workers}
    counters = {cid: {"received": r.received, "acked": r.acked, "points_written": r.points_written,
                      "dead_lettered": r.dead_lettered, "store_errors": r.store_errors, "pending": r.pending}
                for cid, r in rows.items()}
    written = sum(c["points_written"] for c in counters.values())
    duplicates = max(0, written - published_readings)
    acked_telemetry = sum(c["acked"] for c in counters.values()) - sum(probe_messages.values())
    loss = missing + unbound
    lags = [s for t, s in lag.samples if start + 5 <= t <= end]
    base_lags = [s for t, s in lag.samples if base_start + 5 <= t <= base_end]
    hub_names = ["broker"] + [w.name for w in workers]
    growth = any(memory[n].get("growth") for n in hub_names)
    verdict = {
        "no_loss": loss == 0 and drained and unacked_by_broker == 0,
        "no_duplicates": duplicates == 0 and extra == 0,
        "no_rss_growth": not growth,
        "rate_ok": achieved >= RATE_FLOOR * args.rate,
        "workers_exit_0": all(c == 0 for c in codes.values()),
    }
    verdict["ok"] = all(verdict.values())
    result = {
        "benchmark": "soak",
        "started": started_at,
        "minutes": args.minutes,
        "target_readings_per_s": args.rate,
        "achieved_readings_per_s": round(achieved),
        "achieved_vs_target": round(achieved / args.rate, 4),
        "gateways": args.gateways,
        "channels_per_gateway": args.channels,
        "readings_per_message": args.per_message,
        "workers": args.workers,
        "relational_store": "postgresql" if args.database_url and "postgres" in args.database_url else "sqlite",
        "published_readings": published_readings,
        "published_readings_load": load_readings,
        "published_messages": published_messages,
        "messages_unacked_by_broker": unacked_by_broker,
        "publisher_max_behind_s": round(behind, 3),
        "stored_points": stored,
        "missing_points": missing,
        "unbound_points": unbound,
        "loss": loss,
        "duplicates": duplicates,
        "extra_points": extra,
        "drained": drained,
        "drain_s": round(drain_s, 1),
        "lag_s": {"samples": len(lags),
                  "p50": round(percentile(lags, 0.5), 3) if lags else None,
                  "p99": round(percentile(lags, 0.99), 3) if lags else None,
                  "max": round(max(lags), 3) if lags else None},
        "baseline": {"readings_per_s": round(base_rate), "channels_per_gateway": base_channels,
                     "seconds": args.baseline_s, "readings": base_readings,
                     "lag_s": {"samples": len(base_lags),
                               "p50": round(percentile(base_lags, 0.5), 3) if base_lags else None,
                               "p99": round(percentile(base_lags, 0.99), 3) if base_lags else None}},
        "lag_p50_vs_baseline": round(percentile(lags, 0.5) / percentile(base_lags, 0.5), 2)
        if lags and base_lags else None,
        "lag_p99_vs_baseline": round(percentile(lags, 0.99) / percentile(base_lags, 0.99), 2)
        if lags and base_lags else None,
        "lag_query_errors": lag.errors,
        "lag_query_s": {"p50": round(percentile(lag.query_s, 0.5), 3) if lag.query_s else None,
                        "max": round(max(lag.query_s), 3) if lag.query_s else None},
        "worker_counters": counters,
        "telemetry_messages_acked_by_workers": acked_telemetry,
        "worker_exit_codes": codes,
        "rss": memory,
        "cpu_pct_of_one_core": cpu,
        "rss_over_time": [{"t_s": r["t_s"], **r["rss_mb"]} for r in rows_out],
        "rate_over_time": [{"t_s": r["t_s"], "published_per_s": r["published_per_s"],
                            "ingested_per_s": r["ingested_per_s"], "lag_s": r["lag_s"]} for r in rows_out],
        "growth_rule": f"fitted RSS rise over the second half > max({GROWTH_FLOOR_MB} MB, "
                       f"{args.growth_pct:g}% of mid-run RSS), with each quarter of it rising at >= 1/4 of "
                       "that slope; verdict covers broker and workers",
        "verdict": verdict,
        "load_average_start": load_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(f"baseline lag p50 {result['baseline']['lag_s']['p50']} s, p99 {result['baseline']['lag_s']['p99']} s",
          flush=True)
    print(f"published {published_readings} readings (load {round(achieved)}/s), stored {stored}, missing {missing}, "
          f"unbound {unbound}, duplicates {duplicates}; lag p50 {result['lag_s']['p50']} s, "
          f"p99 {result['lag_s']['p99']} s, max {result['lag_s']['max']} s; drain {drain_s:.1f} s", flush=True)
    for name in names:
        m = memory[name]
        print(f"  {name:>14}: RSS {m.get('rss_mb_start')} -> {m.get('rss_mb_end')} MB, second-half slope "
              f"{m.get('slope_mb_per_min_second_half')} MB/min{'  GROWING' if m.get('growth') else ''}", flush=True)
    print(json.dumps(result), flush=True)
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--publisher":
        raise SystemExit(run_publisher(json.loads(sys.argv[2])))
    raise SystemExit(main())
