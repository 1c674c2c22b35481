"""Parts the ingest benchmarks share: servers, telemetry messages, publisher and worker processes.

``bench/hub_ingest.py``, ``bench/alert_latency.py`` and ``bench/compare.py`` import this module
(it sits beside them, so ``import _support`` works when they are run as scripts). Importing it
puts the repository root and ``tests/`` on ``sys.path``, so the project packages and the test
servers (``tests/servers.py``) can be imported after it.

- :func:`servers`: a Mosquitto and an influxd on free ports in a work directory.
- :func:`build_messages`, :func:`bindings`, :func:`write_spool`: the benchmark's gateways'
  telemetry batches, the binding table that resolves every channel, and the message file the
  publisher process reads.
- :class:`Publisher`: a gateway-like process that publishes a spool file (QoS 1) as fast as
  the broker takes it and reports when it started and when the last PUBACK came back.
- :class:`ScriptProcess`: a helper process running a script from a string, reporting on stdout
  one line per event; :class:`IngestProcess` is one ingest worker with a static binding table.
- :func:`raw_line_protocol`: the same points posted straight to influxd, the ceiling.
- :class:`CountPoller`: how many points influxd holds, polled, with the time of each answer.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT / "tests"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import requests  # noqa: E402

from servers import InfluxServer, MosquittoServer  # noqa: E402

from wardlink import protocol  # noqa: E402
from wardlink.clock import SystemClock  # noqa: E402

CHANNELS_PER_GATEWAY = 50
PROBE_GATEWAY = "bench-probe"
METRICS = ("temperature", "humidity", "current", "pressure", "door")


def load_average() -> list[float]:
    """Return the 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


@contextlib.contextmanager
def servers(work: Path) -> Iterator[tuple[MosquittoServer, InfluxServer]]:
    """Run a Mosquitto and an influxd on free ports with their files under ``work``."""
    with MosquittoServer(work / "mosquitto") as mosquitto, InfluxServer(work / "influxd") as influx:
        yield mosquitto, influx


# --------------------------------------------------------------------------- telemetry


def build_messages(readings: int, per_message: int, gateways: int, now_ms: int) -> list[tuple[str, bytes]]:
    """Return telemetry messages carrying ``readings`` readings in total, spread over gateways.

    Message ``i`` comes from gateway ``i % gateways``; each gateway has 50 channels, read once a
    second, all timestamps in the past.
    """
    messages = []
    seqs = [0] * gateways
    count = 0
    tick = 0
    first_ms = now_ms - (readings // CHANNELS_PER_GATEWAY + 60) * 1000  # everything in the past
    while count < readings:
        g = len(messages) % gateways
        gateway = f"gw-{g:03d}"
        rows = []
        for i in range(min(per_message, readings - count)):
            ch = (tick + i) % CHANNELS_PER_GATEWAY
            ts = first_ms + (tick + i) // CHANNELS_PER_GATEWAY * 1000
            rows.append(protocol.Reading(f"ch{ch:02d}", ts, 20.0 + ((tick + i) % 97) / 10))
        tick += len(rows)
        batch = protocol.TelemetryBatch(gateway, "bench-boot", seqs[g], tuple(rows))
        seqs[g] += 1
        messages.append((protocol.topic(gateway, "telemetry"), protocol.encode(batch)))
        count += len(rows)
    return messages


def bindings(gateways: int) -> dict:
    """Return a binding for every channel: metric family, asset, ward and site tags."""
    return {f"gw-{g:03d}": {f"ch{c:02d}": {"measurement": METRICS[c % len(METRICS)],
                                          "tags": {"asset": f"A-{g:03d}-{c // 5:02d}", "ward": f"W{g % 7}",
                                                   "site": "Main"}}
                           for c in range(CHANNELS_PER_GATEWAY)}
            for g in range(gateways)}


def write_spool(messages: list[tuple[str, bytes]], path: Path) -> Path:
    """Write messages in the publisher's file format (a ``topic size`` line, then the payload)."""
    with open(path, "wb") as fh:
        for topic, payload in messages:
            fh.write(f"{topic} {len(payload)}\n".encode())
            fh.write(payload)
    return path


def line_protocol(messages: list[tuple[str, bytes]], resolver, now_ms: int, work: Path) -> list[str]:
    """Return the line protocol an ingest worker writes for ``messages`` (its own point builder)."""
    from wardlink.hub.config import load_config
    from wardlink.hub.ingest import IngestWorker
    from wardlink.hub.telemetry.lineprotocol import LineEncoder

    # A worker that is never started: its point builder, without a broker or a store.
    config = load_config(environ={}, overrides={"data_dir": str(work), "mqtt_url": "mqtt://127.0.0.1:1",
                                                "mqtt_client_id": "bench-lines"})
    builder = IngestWorker(config, None, resolver)
    encoder = LineEncoder()
    lines: list[str] = []
    for _, payload in messages:
        lines += encoder.lines(builder._points(protocol.decode_telemetry(payload, now_ms=now_ms)))
    return lines


def publish_probe(mosquitto: MosquittoServer) -> None:
    """Leave a retained status on the broker, by which a starting worker sees it is subscribed."""
    import paho.mqtt.publish as publish

    status = protocol.Status(PROBE_GATEWAY, "online", "bench-boot", SystemClock().now_ms())
    publish.single(protocol.topic(PROBE_GATEWAY, "status"), protocol.encode(status), qos=1, retain=True,
                   hostname=mosquitto.host, port=mosquitto.port)


def forget_session(mosquitto: MosquittoServer, client_id: str) -> None:
    """Drop a stopped client's persistent session, so the broker queues nothing more for it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                         protocol=mqtt.MQTTv311)
    client.on_connect = lambda *a: connected.set()
    client.connect(mosquitto.host, mosquitto.port)
    deadline = time.monotonic() + 20
    while not connected.is_set():  # this thread runs the client's network loop itself
        if time.monotonic() > deadline:
            raise SystemExit(f"could not connect as {client_id} to drop its session")
        client.loop(0.1)
    client.disconnect()


# --------------------------------------------------------------------------- publisher

PUBLISHER = textwrap.dedent("""
    import sys, time, threading
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, "rb") as fh:
        messages = []
        while True:
            header = fh.readline()
            if not header:
                break
            topic, size = header.decode().split()
            messages.append((topic, fh.read(int(size))))
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-gateways", protocol=mqtt.MQTTv311)
    client.on_connect = lambda *a: connected.set()
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    connected.wait(10)
    print(f"start {time.time()}", flush=True)
    infos = [client.publish(t, p, qos=1) for t, p in messages]
    for info in infos:
        info.wait_for_publish(120)
    print(f"published {time.time()}", flush=True)
    client.disconnect()
    client.loop_stop()
""")


class Publisher:
    """The gateways: one process publishing a spool file (QoS 1, 200 in flight) as fast as it can."""

    def __init__(self, mosquitto: MosquittoServer, spool: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, mosquitto.host, str(mosquitto.port),
                                      str(spool)], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("start "):
            self.proc.kill()
            raise SystemExit(f"publisher did not start: {line!r}")
        self.start = float(line.split()[1])  # wall time just before the first publish

    def failed(self) -> bool:
        """Return True if the process ended with an error."""
        return self.proc.poll() not in (None, 0)

    def finish(self, timeout: float = 300) -> float:
        """Wait for the last PUBACK; return its wall time."""
        line = self.proc.stdout.readline()
        self.proc.wait(timeout)
        if not line.startswith("published "):
            raise SystemExit(f"publisher failed: {line!r}")
        return float(line.split()[1])


# --------------------------------------------------------------------------- helper processes


class ScriptProcess:
    """A Python process running ``script`` with one JSON argument; it prints ``ready`` once set up,
    then one line per event (``kind rest``), and stops when its stdin closes."""

    def __init__(self, script: Path, spec: dict, what: str = "helper process") -> None:
        self.proc = subprocess.Popen([sys.executable, str(script), json.dumps(spec)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise SystemExit(f"{what} did not start: {line!r}")
        self.final: dict = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "final":
                self.final = json.loads(rest)
            else:
                self.on_line(kind, rest)

    def on_line(self, kind: str, rest: str) -> None:
        """Handle one event line."""

    def stop(self, timeout: float = 120) -> dict:
        """Close stdin, wait for the process to end; return its ``final`` JSON object."""
        self.proc.stdin.close()
        self.proc.wait(timeout)
        self._reader.join(10)
        return self.final


# One ingest worker process, as `wardlink hub ingest` runs it but with the benchmark's binding
# table; it reports every change of its acknowledged count on stdout and stops when stdin closes.
INGEST_WORKER = textwrap.dedent("""
    import gc, json, sys, threading, time
    from wardlink.hub.config import load_config
    from wardlink.hub.db.engine import open_engine
    from wardlink.hub.ingest import IngestRecords, IngestWorker, StaticResolver
    from wardlink.hub.telemetry.influx import InfluxStore
    from wardlink.clock import SystemClock

    spec = json.loads(sys.argv[1])
    gc_time = [0.0, 0.0]  # CPU seconds in the cyclic garbage collector, start of the current pass
    def on_gc(phase, info):
        if phase == "start":
            gc_time[1] = time.thread_time()
        else:
            gc_time[0] += time.thread_time() - gc_time[1]

    gc.callbacks.append(on_gc)
    overrides = {"data_dir": spec["work"], "mqtt_url": spec["mqtt_url"], "mqtt_client_id": spec["client_id"],
                 "database_url": spec["database_url"]}
    if spec.get("group"):
        overrides["mqtt_share_group"] = spec["group"]
    config = load_config(environ={}, overrides=overrides)
    with open(spec["bindings"]) as fh:
        resolver = StaticResolver(json.load(fh))
    store = InfluxStore(spec["influx_url"], spec["database"])
    records = IngestRecords(open_engine(config.resolved_database_url))
    worker = IngestWorker(config, store, resolver, SystemClock(), records=records,
                          max_batch_points=spec["batch_points"])
    worker.start()
    # The broker holds a retained status of a probe gateway: once it arrives, the worker's
    # subscriptions (one SUBSCRIBE for all of them) are in place.
    deadline = time.monotonic() + 20
    while worker.stats().status_messages < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    print("ready", flush=True)
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    cpu0 = time.process_time()
    acked = 0
    while not closed.is_set():
        now_acked = worker.stats().acked
        if now_acked != acked:
            acked = now_acked
            print(f"acked {acked} {time.time()}", flush=True)
        closed.wait(0.002)
    cpu = time.process_time() - cpu0
    stats = worker.stats()
    worker.stop()
    store.close()
    print("final " + json.dumps({"acked": stats.acked, "points_written": stats.points_written,
                                 "dead_lettered": stats.dead_lettered, "store_errors": stats.store_errors,
                                 "cpu_s": round(cpu, 3), "gc_s": round(gc_time[0], 3)}), flush=True)
""")


class IngestProcess(ScriptProcess):
    """One ingest worker (static binding table) in its own process, reporting acknowledgements."""

    def __init__(self, spec: dict) -> None:
        script = Path(spec["work"]) / "ingest_worker.py"
        script.write_text(INGEST_WORKER)
        self.acked = 0
        self.last_ack = 0.0
        self.trace: list[tuple[float, int]] = []  # (time, messages acknowledged so far)
        super().__init__(script, spec, "ingest worker")

    def on_line(self, kind: str, rest: str) -> None:
        if kind == "acked":
            count, at = rest.split()
            self.acked, self.last_ack = int(count), float(at)
            self.trace.append((self.last_ack, self.acked))


def run_wardlink(mosquitto: MosquittoServer, influx: InfluxServer, spool: Path, message_count: int,
                 readings: int, work: Path, bindings_file: Path, run: int, workers: int, batch_points: int,
                 poll_interval_s: float | None = None, deadline_s: float = 600) -> dict:
    """Publish the spooled messages from another process into running workers; return the figures.

    The clock runs from the first publish to the last PUBACK a worker sends (every point of a
    message is committed in influxd before its PUBACK). With ``poll_interval_s``, a
    :class:`CountPoller` also watches the database, as :mod:`compare` watches Node-RED's.
    """
    database = f"bench_ingest_{run}"
    influx.create_database(database)
    group = f"bench{run}" if workers > 1 else None
    client_ids = [f"bench-ingest-{run}-{i}" for i in range(workers)]
    from wardlink.hub.db import upgrade

    upgrade(f"sqlite:///{work / 'wardlink.db'}")  # the ingest tables come from the migrations
    procs = [IngestProcess({
        "work": str(work), "mqtt_url": mosquitto.url, "client_id": client_id, "group": group,
        "database_url": f"sqlite:///{work / 'wardlink.db'}", "bindings": str(bindings_file),
        "influx_url": influx.url, "database": database, "batch_points": batch_points,
    }) for client_id in client_ids]
    load_before = load_average()
    message_count += workers  # each worker also acknowledges the retained probe status
    poller = CountPoller(influx, database, readings, poll_interval_s) if poll_interval_s else None
    pub = Publisher(mosquitto, spool)
    deadline = time.monotonic() + deadline_s
    while sum(p.acked for p in procs) < message_count:
        if time.monotonic() > deadline or pub.failed():
            raise SystemExit(f"timed out: acked {[p.acked for p in procs]} of {message_count}")
        time.sleep(0.005)
    done = max(p.last_ack for p in procs)
    published = pub.finish()
    finals = [p.stop() for p in procs]
    for client_id in client_ids:
        forget_session(mosquitto, client_id)
    out = {}
    if workers == 1:  # acknowledged messages over time; every message but the probe has the same size
        per_message = readings / (message_count - 1)
        trace = [(t, (n - 1) * per_message) for t, n in procs[0].trace if n >= 1]
        out["steady_readings_per_s"] = _round(steady_rate(trace, readings))
    if poller:
        while not poller.done and time.monotonic() < deadline:
            time.sleep(0.05)
        poller.stop()
        between = poller.complete_between()
        if between:
            out.update({"stored_readings_per_s": round(readings / (between[1] - pub.start)),
                        "stored_s": round(between[1] - pub.start, 3),
                        "stored_s_poll_uncertainty": round(between[1] - between[0], 3),
                        "steady_stored_readings_per_s": _round(poller.steady_rate(0))})
    from wardlink.hub.telemetry.influx import InfluxStore

    store = InfluxStore(influx.url, database)
    stored = store.count()
    store.close()
    dead = sum(f.get("dead_lettered", 0) for f in finals)
    if stored != readings or dead:
        raise SystemExit(f"wrong result: stored {stored} of {readings}, workers {finals}")
    return {"readings_per_s": round(readings / (done - pub.start)), "seconds": round(done - pub.start, 3),
            "publish_readings_per_s": round(readings / (published - pub.start)), **out,
            "worker_cpu_s": [f.get("cpu_s") for f in finals], "worker_gc_s": [f.get("gc_s") for f in finals],
            "acked_by_worker": [f.get("acked") for f in finals], "load_before": load_before}


def _round(value: float | None) -> int | None:
    return None if value is None else round(value)


# --------------------------------------------------------------------------- influxd


def raw_line_protocol(influx: InfluxServer, lines: list[str], database: str) -> float:
    """Post pre-formatted lines in gzip requests one after the other; return readings/s."""
    from wardlink.hub.telemetry.influx import DEFAULT_BATCH_LINES  # the ingest worker's request size

    influx.create_database(database)
    session = requests.Session()
    url = f"{influx.url}/write"
    started = time.perf_counter()
    for i in range(0, len(lines), DEFAULT_BATCH_LINES):
        body = gzip.compress("\n".join(lines[i:i + DEFAULT_BATCH_LINES]).encode(), compresslevel=1)
        resp = session.post(url, params={"db": database, "precision": "ms"}, data=body,
                            headers={"Content-Encoding": "gzip"})
        resp.raise_for_status()
    rate = len(lines) / (time.perf_counter() - started)
    session.close()
    return rate


def steady_rate(trace: list[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9) -> float | None:
    """Return the rate between the samples of ``(time, done so far)`` from ``low`` to ``high`` of ``total``.

    Leaves out the start (connections, first batches) and the tail (the last writes draining),
    so the figure is a steady state; None if fewer than two samples fall inside.
    """
    inside = [(t, n) for t, n in trace if low * total <= n <= high * total]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


class CountPoller:
    """Count the points of one database every ``interval_s`` in a thread, until a target is reached.

    Every point Wardlink or the Node-RED flow writes has the string field ``quality``, so
    ``count("quality")`` counts points. ``trace`` holds ``(sent, answered, count)`` wall times of
    every poll; the first poll that sees ``target`` points ends the thread.
    """

    def __init__(self, influx: InfluxServer, database: str, target: int, interval_s: float = 0.1) -> None:
        self._url = f"{influx.url}/query"
        self._database = database
        self.target = target
        self._interval = interval_s
        self.trace: list[tuple[float, float, int]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def count(self) -> int:
        """Return the number of points in the database now."""
        resp = self._session.get(self._url, params={"db": self._database, "q": 'SELECT count("quality") FROM /.*/'},
                                 timeout=30)
        resp.raise_for_status()
        total = 0
        for result in resp.json().get("results", []):
            for series in result.get("series", []):
                total += sum(values[1] for values in series["values"])
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = time.time()
            try:
                n = self.count()
            except requests.RequestException:
                self.errors += 1
                self._stop.wait(self._interval)
                continue
            self.trace.append((sent, time.time(), n))
            if n >= self.target:
                return
            self._stop.wait(self._interval)

    @property
    def done(self) -> bool:
        """Return True once a poll saw the target count."""
        return bool(self.trace) and self.trace[-1][2] >= self.target

    @property
    def last(self) -> int:
        """Return the last count seen."""
        return self.trace[-1][2] if self.trace else 0

    def complete_between(self) -> tuple[float, float] | None:
        """Return (earliest, latest) wall time at which the target count was reached.

        The data was complete by the time the first full poll answered, and not yet when the
        previous poll was sent.
        """
        if not self.done:
            return None
        earlier = self.trace[-2][0] if len(self.trace) > 1 else self.trace[-1][0]
        return earlier, self.trace[-1][1]

    def steady_rate(self, base: int, low: float = 0.1, high: float = 0.9) -> float | None:
        """Return points/s between the polls that saw ``low`` and ``high`` of the run stored.

        ``base`` is the count before the run (probe points).
        """
        return steady_rate([(t, n - base) for _, t, n in self.trace], self.target - base, low, high)

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(35)
        self._session.close()
