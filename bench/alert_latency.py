"""Alert latency under load: a reading published over MQTT -> its alert stored, at 25,000 readings/s.

Starts its own Mosquitto and influxd (``tests/servers.py``) on free ports and builds a hospital
in a fresh SQLite database: ``--gateways`` gateways (500) of ``--channels`` channels (50), the
first ``--fridges`` (10) of each a medical refrigerator's temperature, the rest other sensors,
every channel bound to an asset. Three threshold rules watch the refrigerators (above 8 °C,
above 12 °C, below 2 °C): 20 % of the readings have three rules each, 80 % none.

Ingest worker processes (one by default; ``--workers 2`` puts two in one shared subscription
group) run as ``wardlink hub ingest`` runs them: ``DbResolver`` bindings, InfluxDB, the rules
engine as the listener, the SQLite relational store. A publisher process plays the gateways:
every second each gateway publishes one telemetry batch with one reading per channel, spread
evenly over the second (``--gateways`` x ``--channels`` readings/s); the messages are built
before the clock starts, as real gateways build theirs on their own machines. At known
instants it injects a crossing: one refrigerator reads 9.5 °C, each time a different one. This
process polls the ``alerts`` table every 5 ms; an injection's latency runs from just before
its message was published to the moment its alert row is visible to a reader.

Phases, in one run: ``idle`` (only the batches carrying injections, no other load: the
baseline), then ``load`` (the full rate: ``--warmup`` seconds, which also cover a first
start's work such as creating every rule state, then ``--duration`` seconds of injections).
Also reported: each worker's CPU microseconds per reading during the measured window, the
wall time of its calls into the rules engine, and, measured in this process on a copy of the
database, ``rules_engine_readings_per_s``: the rules engine alone (``RulesEngine.on_points``)
on the same rules and bindings, in batches of 5,000 points as ingest delivers them.

The last line printed is one JSON object. Usage:

    python bench/alert_latency.py [--gateways 500] [--channels 50] [--duration 30] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import datetime, UTC
from pathlib import Path

# _support (beside this file) also puts the repository and tests/ on sys.path.
from _support import ScriptProcess, load_average, publish_probe, servers

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models import Asset, Channel, ChannelBinding, Gateway
from wardlink.hub.rules import parse_rules, sync_rules
from wardlink.hub.services.people import org
from wardlink.hub.services.actor import Actor
from wardlink.hub.telemetry.influx import InfluxStore
from wardlink.clock import SystemClock

BENCH_ACTOR = Actor.system("bench")
WARDS = ("ICU", "ED", "THEATRE", "MAT", "PHARM", "CSSD", "WARD1")
OTHER_METRICS = ("humidity", "current", "pressure", "temperature")
FRIDGE_CATEGORY = "Medical refrigerator"
ALERT_RULE = "fridge-high"
INJECTED_VALUE = 9.5
RULES = [
    {"name": ALERT_RULE, "kind": "threshold", "severity": "warning", "above": 8.0, "hysteresis": 0.5,
     "match": {"metric": "temperature", "category": FRIDGE_CATEGORY}},
    {"name": "fridge-critical", "kind": "threshold", "severity": "critical", "above": 12.0, "hysteresis": 0.5,
     "match": {"metric": "temperature", "category": FRIDGE_CATEGORY}},
    {"name": "fridge-low", "kind": "threshold", "severity": "warning", "below": 2.0, "hysteresis": 0.5,
     "match": {"metric": "temperature", "category": FRIDGE_CATEGORY}},
]

# The gateways: one telemetry batch per gateway per period, one reading per channel, spread
# evenly over the period; injections are announced on stdout with their publish time.
PUBLISHER = textwrap.dedent("""
    import json, random, sys, threading, time
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from wardlink import protocol

    spec = json.loads(sys.argv[1])
    gateways, channels, fridges = spec["gateways"], spec["channels"], spec["fridges"]
    period, seconds, inject_every = spec["period_s"], spec["seconds"], spec["inject_every_s"]
    targets = [tuple(t) for t in spec["targets"]]  # (gateway index, fridge index), used in turn
    load, injected_value = spec["load"], spec["injected_value"]
    rnd = random.Random(spec["seed"])
    boot = f"bench-{spec['client_id']}"
    fridge_temp = [[4.0 + rnd.random() * 2 for _ in range(fridges)] for _ in range(gateways)]

    # Every message is built before the clock starts (real gateways do this work on their own
    # machines, not on the hub's): (due offset, tick, topic, payload, injected channel or None).
    # Timestamps are written as a placeholder of the same width, filled in when sent.
    PLACEHOLDER = 9_000_000_000_000
    schedule = []
    seqs = [0] * gateways
    next_inject, injected = spec["first_inject_s"], 0
    for k in range(int(seconds / period)):
        ts = PLACEHOLDER + k
        for g in range(gateways):
            due = k * period + g * period / gateways
            hot = None
            if injected < len(targets) and targets[injected][0] == g and due >= next_inject:
                hot, injected, next_inject = targets[injected][1], injected + 1, next_inject + inject_every
            if not load and hot is None:
                continue
            rows = []
            for c in range(channels):
                if c < fridges:
                    value = injected_value if c == hot else round(fridge_temp[g][c] + rnd.uniform(-0.2, 0.2), 2)
                else:
                    value = round(20 + rnd.random() * 10, 2)
                rows.append(protocol.Reading(f"ch{c:02d}", ts, value))
            seqs[g] += 1
            message = protocol.TelemetryBatch(f"gw-{g:03d}", boot, seqs[g], tuple(rows))
            schedule.append((due, k, protocol.topic(f"gw-{g:03d}", "telemetry"), protocol.encode(message), hot))
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=spec["client_id"], protocol=mqtt.MQTTv311)
    client.on_connect = lambda *a: connected.set()
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(spec["host"], spec["port"])
    client.loop_start()
    connected.wait(10)
    start = time.time() + 0.5
    print(f"start {start}", flush=True)
    behind = 0.0
    infos = []
    for due, k, topic, payload, hot in schedule:
        wait = start + due - time.time()
        if wait > 0:
            time.sleep(wait)
        else:
            behind = max(behind, -wait)
        payload = payload.replace(b"%d" % (PLACEHOLDER + k), b"%d" % int((start + k * period) * 1000))
        sent_at = time.time()
        infos.append(client.publish(topic, payload, qos=1))
        if hot is not None:
            g = topic.split("/")[2]
            print(f"inject {g} ch{hot:02d} {sent_at}", flush=True)
        if len(infos) > 5000:
            infos = [i for i in infos if not i.is_published()]
    for info in infos:
        info.wait_for_publish(60)
    print(f"done {time.time()} {len(schedule) * channels} {behind}", flush=True)
    client.disconnect()
    client.loop_stop()
""")

# The ingest worker with the rules engine as its listener, as one production process.
WORKER = textwrap.dedent("""
    import gc, json, sys, threading, time
    from wardlink.hub.config import load_config
    from wardlink.hub.db import open_engine
    from wardlink.hub.db.resolver import DbResolver
    from wardlink.hub.ingest import IngestRecords, IngestWorker
    from wardlink.hub.rules import RulesEngine
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
    engine = open_engine(config.resolved_database_url)
    clock = SystemClock()
    store = InfluxStore(spec["influx_url"], spec["database"])
    rules = RulesEngine(engine, clock=clock)
    calls = []  # wall seconds of each telemetry call into the rules engine

    class TimedRules:  # the engine as the worker's listener, timing each telemetry call

        def on_points(self, points):
            started = time.perf_counter()
            try:
                return rules.on_points(points)
            finally:
                calls.append(time.perf_counter() - started)

        def on_events(self, gateway, events):
            return rules.on_events(gateway, events)

        def on_status(self, gateway, status, received_ms=None):
            return rules.on_status(gateway, status, received_ms)

    options = {"max_batch_delay_s": spec["batch_delay_s"]} if spec.get("batch_delay_s") else {}
    worker = IngestWorker(config, store, DbResolver(engine, clock=clock), clock,
                          records=IngestRecords(engine), listeners=[TimedRules()], **options)
    worker.start()
    deadline = time.monotonic() + 30
    while worker.stats().status_messages < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    print("ready", flush=True)
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    cpu0 = time.process_time()
    while not closed.wait(0.05):
        s = worker.stats()
        print(f"stats {s.acked} {s.pending} {s.points_written} {time.time()} {time.process_time()}", flush=True)
    cpu = time.process_time() - cpu0
    ordered = sorted(calls) or [0.0]
    q = lambda f: ordered[min(len(ordered) - 1, int(f * len(ordered)))]
    threads = {t.name: round(time.clock_gettime(time.pthread_getcpuclockid(t.ident)), 2)
               for t in threading.enumerate() if t.name.startswith(("ingest", "paho"))}
    stats = worker.stats()
    worker.stop()
    store.close()
    print("final " + json.dumps({"acked": stats.acked, "points_written": stats.points_written,
                                 "dead_lettered": stats.dead_lettered, "store_errors": stats.store_errors,
                                 "pending": stats.pending, "last_error": stats.last_error, "cpu_s": round(cpu, 2),
                                 "gc_s": round(gc_time[0], 2), "threads": threads,
                                 "rules": dict(rules.stats),
                                 "rules_call_ms": {"calls": len(calls), "p50": round(1000 * q(0.5), 1),
                                                   "p99": round(1000 * q(0.99), 1),
                                                   "max": round(1000 * q(1.0), 1)}}), flush=True)
""")


# --------------------------------------------------------------------------- the hospital


def build_database(url: str, gateways: int, channels: int, fridges: int) -> None:
    """Migrate a fresh database and fill it with the site, assets, gateways, bindings and rules."""
    upgrade(url)
    engine = open_engine(url)
    clock = SystemClock()
    now = datetime.now(UTC)
    since = datetime(2025, 1, 1, tzinfo=UTC)
    with session_scope(engine) as session:
        site = org.ensure_site(session, code="BENCH", name="Benchmark Hospital", actor=BENCH_ACTOR, clock=clock)
        wards = [org.ensure_department(session, site, code=code, name=f"Ward {code}", actor=BENCH_ACTOR,
                                       clock=clock) for code in WARDS]
        assets, gws = [], []
        for g in range(gateways):
            ward = wards[g % len(wards)]
            gws.append(Gateway(gateway_id=f"gw-{g:03d}", name=f"Gateway {g}", department_id=ward.id,
                               status="unknown", enabled=True, created_at=now, updated_at=now))
            for f in range(fridges):
                assets.append(Asset(tag=f"F-{g:03d}-{f:02d}", name=f"Refrigerator {g}.{f}", category=FRIDGE_CATEGORY,
                                    department_id=ward.id, created_at=now, updated_at=now))
            for o in range(math.ceil((channels - fridges) / 5)):
                assets.append(Asset(tag=f"E-{g:03d}-{o:02d}", name=f"Room sensor {g}.{o}",
                                    category="Environment monitor", department_id=ward.id, created_at=now,
                                    updated_at=now))
        session.add_all(gws)
        session.add_all(assets)
        session.flush()
        by_tag = {a.tag: a for a in assets}
        chans, metrics = [], []
        for gw in gws:
            g = int(gw.gateway_id[3:])
            for c in range(channels):
                metric = "temperature" if c < fridges else OTHER_METRICS[c % len(OTHER_METRICS)]
                chans.append(Channel(gateway_pk=gw.id, channel_id=f"ch{c:02d}", metric=metric,
                                     unit="degC" if metric == "temperature" else "", driver="bench",
                                     interval_s=1.0, created_at=now))
                metrics.append((g, c, metric))
        session.add_all(chans)
        session.flush()
        bindings = []
        for chan, (g, c, metric) in zip(chans, metrics):
            tag = f"F-{g:03d}-{c:02d}" if c < fridges else f"E-{g:03d}-{(c - fridges) // 5:02d}"
            bindings.append(ChannelBinding(channel_pk=chan.id, asset_id=by_tag[tag].id, metric=metric,
                                           valid_from=since, created_at=now))
        session.add_all(bindings)
        sync_rules(session, parse_rules({"rules": RULES}).rules, clock=clock)
    engine.dispose()


# --------------------------------------------------------------------------- the rules engine alone


def engine_throughput(db_path: Path, gateways: int, channels: int, fridges: int, batch: int = 5000,
                      seconds: int = 20) -> dict:
    """Feed ``RulesEngine.on_points`` the points ingest would hand it; return readings/s and CPU.

    Points are made a batch at a time, as ingest hands them over (only one batch alive), and
    the start-up heap is frozen as the worker freezes its own; only the calls are timed.
    """
    import gc

    from wardlink.hub.db.resolver import DbResolver
    from wardlink.hub.ingest.resolver import series_of
    from wardlink.hub.rules import RulesEngine
    from wardlink.hub.telemetry import Point

    engine = open_engine(f"sqlite:///{db_path}")
    resolver = DbResolver(engine)
    rules = RulesEngine(engine, clock=SystemClock())
    t0 = SystemClock().now_ms() - (seconds + 1) * 1000
    series = []
    for g in range(gateways):
        for c in range(channels):
            gateway, channel = f"gw-{g:03d}", f"ch{c:02d}"
            series.append((c < fridges, *series_of(gateway, channel, resolver.resolve(gateway, channel, t0))))
    rnd = random.Random(7)

    def batches():
        chunk = []
        for s in range(seconds + 1):  # one reading per channel per second, in the order published
            for fridge, measurement, tags in series:
                value = round(4.0 + rnd.random() * 2, 2) if fridge else round(20 + rnd.random() * 10, 2)
                chunk.append(Point(measurement, tags, t0 + s * 1000, value))
                if len(chunk) == batch:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    stream = batches()
    for _ in range(math.ceil(len(series) / batch)):
        rules.on_points(next(stream))  # the first second creates every rule state, as after a start
    gc.collect()
    gc.freeze()
    wall = cpu = 0.0
    fed = evaluated = 0
    for chunk in stream:
        w, c = time.perf_counter(), time.process_time()
        evaluated += rules.on_points(chunk).evaluated
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
        fed += len(chunk)
    gc.unfreeze()
    engine.dispose()
    return {"rules_engine_readings_per_s": round(fed / wall),
            "rules_engine_cpu_us_per_reading": round(1e6 * cpu / fed, 2),
            "rules_engine_evaluations": evaluated, "rules_engine_batch": batch}


# --------------------------------------------------------------------------- end to end


class WorkerProcess(ScriptProcess):
    """One ingest worker process, reporting its counters every 50 ms."""

    def __init__(self, script: Path, spec: dict) -> None:
        self.acked = 0
        self.last_ack = 0.0
        self.samples: list[tuple[float, int, int, float]] = []  # (time, unacknowledged, points, CPU s)
        super().__init__(script, spec, "ingest worker")

    def on_line(self, kind: str, rest: str) -> None:
        if kind == "stats":
            acked, pending, written, at, cpu = rest.split()
            if int(acked) != self.acked:
                self.acked, self.last_ack = int(acked), float(at)
            self.samples.append((float(at), int(pending), int(written), float(cpu)))

    def max_pending(self, start: float, end: float) -> int:
        """Return the most messages this worker held unacknowledged between ``start`` and ``end``."""
        return max((s[1] for s in self.samples if start <= s[0] <= end), default=0)

    def cpu_per_point(self, start: float, end: float) -> float | None:
        """Return this worker's CPU microseconds per point written between ``start`` and ``end``."""
        window = [s for s in self.samples if start <= s[0] <= end]
        if len(window) < 2 or window[-1][2] == window[0][2]:
            return None
        return 1e6 * (window[-1][3] - window[0][3]) / (window[-1][2] - window[0][2])

    def stop(self) -> dict:
        """Stop the worker (it drains what it holds); return its final counters."""
        return super().stop(120)


class AlertWatcher:
    """Poll the alerts table and note when each (rule, asset) alert first becomes visible."""

    def __init__(self, db_path: Path, interval_s: float = 0.005) -> None:
        self._db = db_path
        self._interval = interval_s
        self.seen: dict[tuple[str, str], float] = {}
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True, timeout=5)
        last = 0
        while not self._stop.is_set():
            rows = conn.execute("SELECT alerts.id, alerts.rule, assets.tag FROM alerts "
                                "LEFT JOIN assets ON assets.id = alerts.asset_id WHERE alerts.id > ? "
                                "ORDER BY alerts.id", (last,)).fetchall()
            now = time.time()
            for alert_id, rule, tag in rows:
                self.seen.setdefault((rule, tag), now)
                last = alert_id
            self.polls += 1
            self._stop.wait(self._interval)
        conn.close()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(5)


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run_phase(name: str, watcher: AlertWatcher, spec: dict, targets: list, workers: list[WorkerProcess],
              show: bool) -> dict:
    """Publish one phase; return its injections' latencies and the achieved load."""
    spec = {**spec, "targets": targets, "client_id": f"bench-gateways-{name}"}
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, json.dumps(spec)], stdout=subprocess.PIPE, text=True)
    injections = []
    start = done = None
    published = behind = 0
    for line in pub.stdout:
        kind, _, rest = line.strip().partition(" ")
        if kind == "start":
            start = float(rest)
        elif kind == "inject":
            gateway, channel, at = rest.split()
            injections.append((gateway, channel, float(at)))
        elif kind == "done":
            at, count, lag = rest.split()
            done, published, behind = float(at), int(count), float(lag)
    pub.wait(60)
    if done is None:
        raise SystemExit(f"publisher of phase {name} failed")
    # Every injection's alert should be there within seconds; wait for the stragglers.
    deadline = time.monotonic() + 15
    wanted = [(ALERT_RULE, f"F-{g[3:]}-{c[2:]}") for g, c, _ in injections]
    while time.monotonic() < deadline and not all(w in watcher.seen for w in wanted):
        time.sleep(0.05)
    latencies = [watcher.seen[w] - at for w, (_, _, at) in zip(wanted, injections) if w in watcher.seen]
    missing = len(injections) - len(latencies)
    lag = sum(w.max_pending(start + spec["warmup_s"], done) for w in workers)
    cpu = [w.cpu_per_point(start + spec["warmup_s"], done) for w in workers]
    out = {"injections": len(injections), "missing_alerts": missing, "published_readings": published,
           "published_readings_per_s": round(published / (done - start)),
           "publisher_max_behind_s": round(behind, 3), "max_unacked_messages": lag,
           "done_at": done}
    if spec["load"]:  # CPU per reading means little when a handful of readings arrive
        out["worker_cpu_us_per_reading"] = [round(c, 1) if c else None for c in cpu]
    if show:
        print(f"{name} latencies (s, in injection order):", [round(x, 2) for x in latencies], file=sys.stderr)
    if latencies:
        out.update({"p50_ms": round(1000 * statistics.median(latencies), 1),
                    "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
                    "max_ms": round(1000 * max(latencies), 1), "min_ms": round(1000 * min(latencies), 1)})
    return out


def main(argv=None) -> int:
    """Run the benchmark and print its figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=500)
    parser.add_argument("--channels", type=int, default=50, help="channels per gateway, one reading each per second")
    parser.add_argument("--fridges", type=int, default=10, help="refrigerator channels per gateway (the ruled ones)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of load before the first injection")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of the idle (baseline) phase")
    parser.add_argument("--inject-every", type=float, default=0.2, help="seconds between injections")
    parser.add_argument("--engine-seconds", type=int, default=20,
                        help="seconds of readings fed to the rules engine alone")
    parser.add_argument("--workers", type=int, default=1, help="ingest worker processes (>1: one shared group)")
    parser.add_argument("--batch-delay", type=float, default=None,
                        help="the workers' max_batch_delay_s (default: IngestWorker's own)")
    parser.add_argument("--catch-up", type=float, default=120.0,
                        help="seconds the workers get after the load to acknowledge everything")
    parser.add_argument("--show-latencies", action="store_true", help="print every latency to stderr")
    args = parser.parse_args(argv)
    if not (1 <= args.gateways <= 1000 and 1 <= args.fridges < args.channels <= 100):
        parser.error("need 1..1000 gateways and 1 <= fridges < channels <= 100")

    rate = args.gateways * args.channels
    load_start = load_average()
    with tempfile.TemporaryDirectory(prefix="wardlink-bench-") as tmp:
        work = Path(tmp)
        db_path = work / "wardlink.db"
        build_database(f"sqlite:///{db_path}", args.gateways, args.channels, args.fridges)
        engine_db = work / "engine.db"
        shutil.copy(db_path, engine_db)
        engine_figures = engine_throughput(engine_db, args.gateways, args.channels, args.fridges,
                                           seconds=args.engine_seconds)

        targets_all = [(g, f) for f in range(args.fridges) for g in range(args.gateways)]
        random.Random(3).shuffle(targets_all)
        with servers(work) as (mosquitto, influx):
            database = "bench_alerts"
            influx.create_database(database)
            publish_probe(mosquitto)
            script = work / "ingest_worker.py"
            script.write_text(WORKER)
            workers = [WorkerProcess(script, {
                "work": str(work), "mqtt_url": mosquitto.url, "client_id": f"bench-alert-ingest-{i}",
                "group": "bench" if args.workers > 1 else None, "database_url": f"sqlite:///{db_path}",
                "influx_url": influx.url, "database": database, "batch_delay_s": args.batch_delay})
                for i in range(args.workers)]
            watcher = AlertWatcher(db_path)
            common = {"host": mosquitto.host, "port": mosquitto.port, "gateways": args.gateways,
                      "channels": args.channels, "fridges": args.fridges, "period_s": 1.0,
                      "inject_every_s": args.inject_every, "injected_value": INJECTED_VALUE, "seed": 11}
            idle_n = int(args.idle / args.inject_every)
            idle = run_phase("idle", watcher, {**common, "load": False, "seconds": args.idle,
                                               "first_inject_s": 0.0, "warmup_s": 0.0},
                             targets_all[:idle_n], workers, args.show_latencies)
            loaded_n = int(args.duration / args.inject_every)
            loaded = run_phase("load", watcher, {**common, "load": True, "seconds": args.warmup + args.duration,
                                                 "first_inject_s": args.warmup, "warmup_s": args.warmup},
                               targets_all[idle_n:idle_n + loaded_n], workers, args.show_latencies)
            watcher.stop()
            # Let the worker catch up with everything published before it stops (it drains what
            # it holds, but the broker may still hold a backlog).
            messages = (idle["published_readings"] + loaded["published_readings"]) // args.channels + len(workers)
            deadline = time.monotonic() + args.catch_up
            while sum(w.acked for w in workers) < messages and time.monotonic() < deadline:
                time.sleep(0.1)
            caught_up = sum(w.acked for w in workers) >= messages
            catch_up_s = round(max(w.last_ack for w in workers) - loaded["done_at"], 2) if caught_up else None
            finals = [w.stop() for w in workers]
            store = InfluxStore(influx.url, database)
            stored = store.count()
            store.close()
    # Everything published was stored (the worker drains before it stops): nothing lost, nothing
    # doubled. A worker that never caught up leaves the rest with the broker: reported, not checked.
    published = idle["published_readings"] + loaded["published_readings"]
    if (caught_up and stored != published) or any(f.get("dead_lettered") for f in finals):
        raise SystemExit(f"wrong result: stored {stored} of {published} readings, workers {finals}")
    load_end = load_average()
    for phase in (idle, loaded):
        del phase["done_at"]
    result = {
        "benchmark": "alert_latency",
        "gateways": args.gateways,
        "channels_per_gateway": args.channels,
        "ruled_channels_per_gateway": args.fridges,
        "rules": len(RULES),
        "target_readings_per_s": rate,
        "workers": args.workers,
        "max_batch_delay_s": args.batch_delay,
        "load": loaded,
        "baseline_idle": idle,
        "p99_load_vs_idle": round(loaded["p99_ms"] / idle["p99_ms"], 2) if "p99_ms" in loaded and "p99_ms" in idle
        else None,
        **engine_figures,
        "stored_points": stored,
        "published_points": published,
        "worker_caught_up_s_after_load": catch_up_s,
        "worker_counters": finals,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
