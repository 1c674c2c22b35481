"""Side by side: the same MQTT -> InfluxDB workload through Wardlink, raw line protocol and Node-RED.

Starts its own Mosquitto and influxd (``tests/servers.py``) on free ports and measures, in one
run on one machine, readings/s from the first publish until influxd has confirmed the write of
every point:

- ``wardlink``: an ingest worker process (as in ``bench/hub_ingest.py``: static binding table,
  InfluxDB store, PUBACK only after the points are committed) behind Mosquitto. The clock
  stops at the last PUBACK.
- ``node_red``: Node-RED with ``node-red-contrib-influxdb`` running ``bench/node-red/flow.json``:
  an MQTT in node on ``wardlink/v1/+/telemetry`` (QoS 1), a function node that turns each
  telemetry batch into points with the measurement and tags Wardlink writes (the same binding
  table), and an "influxdb batch" node (InfluxDB 1.x, millisecond precision). A "complete"
  node reports each write influxd confirmed (a "catch" node each failure) over MQTT; the clock
  stops at the last confirmed write.
- ``raw``: the points Wardlink writes, already formatted as line protocol, posted straight to
  ``/write`` (gzip, 10,000 lines per request, one request after the other): the ceiling.

Wardlink and Node-RED get the same messages (``--per-message`` readings each, from
``--gateways`` gateways, QoS 1) from the same publisher process. After each run the points in
influxd are counted: Wardlink must have stored all; for Node-RED, which acknowledges QoS 1
messages on receipt, before it writes them, points it never stored are reported as lost, not
hidden. ``steady`` rates (between 10 % and 90 % of the points confirmed) are reported beside
the whole-run rates. ``--node-red-readings`` can give Node-RED a smaller share of the same
messages if it is slow. ``--poll-interval`` adds a cross-check: polling ``count("quality")``
during the runs and reporting when the count was complete (within the reported width).

Phases go raw, wardlink, node-red, raw, wardlink, node-red, ..., raw (``--repeat`` rounds), so
a change of the machine's load reaches all three; each round's ratios take the mean of the raw
runs just before and after it, and medians are reported.

Node-RED is installed with ``npm ci`` (``bench/node-red/package.json`` and its lock file, exact
versions) into a cache directory outside the repository, only when missing or when the pins
change: ``${XDG_CACHE_HOME:-~/.cache}/wardlink-bench/node-red`` unless ``--node-red-dir`` says
otherwise. Needs ``node`` (>= 18.5) and ``npm`` on the PATH.

The last line printed is one JSON object. Usage:

    python bench/compare.py [--readings 300000] [--node-red-readings N] [--per-message 1000]
                            [--gateways 20] [--repeat 3] [--poll-interval 0] [--node-red-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# _support (beside this file) also puts the repository and tests/ on sys.path.
from _support import (PROBE_GATEWAY, CountPoller, Publisher, bindings, build_messages, line_protocol,
                      load_average, publish_probe, raw_line_protocol, run_wardlink, servers, steady_rate,
                      write_spool)
from servers import free_port

from wardlink.hub.ingest import StaticResolver
from wardlink.hub.telemetry.influx import InfluxStore
from wardlink import protocol
from wardlink.clock import SystemClock

HERE = Path(__file__).resolve().parent
NODE_RED_SOURCE = HERE / "node-red"
MIN_NODE = (18, 5)
REPORTS = "wardlink-bench/node-red"  # where the flow reports confirmed and failed writes
CONNECTED = re.compile(r"\[mqtt-broker:[^\]]*\] Connected to broker")


# --------------------------------------------------------------------------- Node-RED install


def default_cache() -> Path:
    """Return ``${XDG_CACHE_HOME:-~/.cache}/wardlink-bench/node-red``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wardlink-bench" / "node-red"


def check_node() -> str:
    """Return node's version; exit with a clear message if node or npm is missing or too old."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"compare.py needs Node.js and npm for the Node-RED side: {' and '.join(missing)} not "
                         f"found on PATH (Debian/Ubuntu: apt-get install nodejs npm)")
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    numbers = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    if numbers < MIN_NODE:
        raise SystemExit(f"Node-RED needs node >= {'.'.join(map(str, MIN_NODE))}, found {version}")
    return version


def install_node_red(cache: Path) -> dict:
    """Install the pinned Node-RED and InfluxDB nodes into ``cache`` unless already there.

    Return the installed versions. The install is keyed by a hash of package.json and its
    lock file, so changing the pins reinstalls.
    """
    files = ("package.json", "package-lock.json")
    digest = hashlib.sha256(b"".join((NODE_RED_SOURCE / f).read_bytes() for f in files)).hexdigest()
    stamp = cache / ".wardlink-bench-installed"
    red = cache / "node_modules" / "node-red" / "red.js"
    if not (red.exists() and stamp.exists() and stamp.read_text().strip() == digest):
        cache.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(NODE_RED_SOURCE / f, cache / f)
        print(f"installing Node-RED into {cache} (npm ci) ...", file=sys.stderr, flush=True)
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=cache,
                              stdout=sys.stderr)
        if done.returncode != 0:
            raise SystemExit(f"npm ci failed in {cache} (exit {done.returncode})")
        stamp.write_text(digest + "\n")

    def version(package: str) -> str:
        return json.loads((cache / "node_modules" / package / "package.json").read_text())["version"]

    return {"node_red": version("node-red"), "node_red_contrib_influxdb": version("node-red-contrib-influxdb")}


# --------------------------------------------------------------------------- Node-RED run


class NodeRed:
    """One Node-RED process running the benchmark flow against one influxd database."""

    def __init__(self, cache: Path, user_dir: Path, mosquitto, influx, database: str, bindings_file: Path) -> None:
        user_dir.mkdir(parents=True)
        flow = user_dir / "flow.json"
        shutil.copyfile(NODE_RED_SOURCE / "flow.json", flow)  # Node-RED may write beside its flow file
        self.port = free_port()
        self.log_path = user_dir / "node-red.log"
        env = {**os.environ, "WARDLINK_BENCH_MQTT_HOST": mosquitto.host,
               "WARDLINK_BENCH_MQTT_PORT": str(mosquitto.port), "WARDLINK_BENCH_INFLUX_HOST": influx.host,
               "WARDLINK_BENCH_INFLUX_PORT": str(influx.port), "WARDLINK_BENCH_INFLUX_DB": database,
               "WARDLINK_BENCH_BINDINGS": str(bindings_file), "NODE_RED_ENABLE_PROJECTS": "false"}
        self.command = ["node", str(cache / "node_modules" / "node-red" / "red.js"),
                        "--settings", str(NODE_RED_SOURCE / "settings.js"), "--userDir", str(user_dir),
                        "--port", str(self.port), str(flow)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)

    def log(self) -> str:
        """Return Node-RED's console log so far."""
        return self.log_path.read_text(errors="replace")

    def wait_connected(self, timeout: float = 180) -> None:
        """Wait until the MQTT broker config node reports its connection."""
        deadline = time.monotonic() + timeout
        while not CONNECTED.search(self.log()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = "\n".join(self.log().splitlines()[-30:])
                raise SystemExit(f"Node-RED did not connect to the broker:\n{tail}")
            time.sleep(0.1)

    def errors(self) -> list[str]:
        """Return the error lines of the log (failed writes, refused messages)."""
        return [line for line in self.log().splitlines() if "[error]" in line]

    def stop(self) -> None:
        """Stop Node-RED (SIGTERM, then SIGKILL after 30 s)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class Reports:
    """What the flow reports on ``wardlink-bench/node-red/#``: points influxd confirmed or refused."""

    def __init__(self, mosquitto) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.written: list[tuple[float, int]] = []  # (wall time of the confirmation, points)
        self.failed: list[tuple[float, int, str]] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-node-red-reports",
                                   protocol=mqtt.MQTTv311)
        self._client.on_connect = lambda c, *a: c.subscribe(f"{REPORTS}/#", qos=0)
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(mosquitto.host, mosquitto.port)
        self._client.loop_start()
        if not self._subscribed.wait(20):
            raise SystemExit("could not subscribe to the Node-RED flow's reports")

    def _on_message(self, client, userdata, message) -> None:
        n, at, *why = message.payload.decode().split(" ", 2)
        if message.topic.endswith("/written"):
            self.written.append((int(at) / 1000, int(n)))
        else:
            self.failed.append((int(at) / 1000, int(n), why[0] if why else ""))

    def reset(self) -> None:
        """Forget what was reported so far."""
        self.written.clear()
        self.failed.clear()

    @property
    def points(self) -> int:
        """Return the points reported written or failed so far."""
        return sum(n for _, n in self.written) + sum(f[1] for f in self.failed)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def probe_message(seq: int) -> tuple[str, bytes]:
    """Return a one-reading telemetry batch of the probe gateway (an unbound channel, fixed time)."""
    ts = 1_700_000_000_000  # the same point every time: a re-sent probe overwrites itself
    batch = protocol.TelemetryBatch(PROBE_GATEWAY, "bench-boot", seq, (protocol.Reading("probe", ts, 1.0),))
    return protocol.topic(PROBE_GATEWAY, "telemetry"), protocol.encode(batch)


def run_node_red(cache: Path, work: Path, mosquitto, influx, spool: Path, readings: int, bindings_file: Path,
                 run: int, poll_interval: float | None, stall_s: float, deadline_s: float) -> dict:
    """Start Node-RED, wait until its flow stores a probe, publish the spool; return the figures.

    The clock runs from the first publish to the last write influxd confirmed to Node-RED (the
    flow reports each one), as Wardlink's runs to the last PUBACK, which follows the commit.
    """
    import paho.mqtt.publish as publish

    database = f"bench_node_red_{run}"
    influx.create_database(database)
    store = InfluxStore(influx.url, database)
    node = NodeRed(cache, work / f"node-red-{run}", mosquitto, influx, database, bindings_file)
    reports = Reports(mosquitto)
    poller = None
    try:
        started = time.monotonic()
        node.wait_connected()
        # Connected is logged before the SUBSCRIBE is acknowledged: send the probe until the
        # flow reports it stored, which proves the whole path (subscription, function, writes).
        seq = 0
        deadline = time.monotonic() + 120
        while not reports.written:
            if time.monotonic() > deadline:
                raise SystemExit(f"Node-RED stored no probe point in 120 s:\n{chr(10).join(node.errors()[-10:])}")
            topic, payload = probe_message(seq)
            publish.single(topic, payload, qos=1, hostname=mosquitto.host, port=mosquitto.port)
            seq += 1
            wait = time.monotonic() + 2
            while not reports.written and time.monotonic() < wait:
                time.sleep(0.02)
        if seq > 1:  # an earlier probe may still be on its way: let it land before the counters reset
            time.sleep(2)
        reports.reset()
        base = store.count()
        ready_s = time.monotonic() - started
        errors_before = len(node.errors())

        load_before = load_average()
        if poll_interval:
            poller = CountPoller(influx, database, base + readings, poll_interval)
        pub = Publisher(mosquitto, spool)
        published = None
        last_points, last_change = 0, time.monotonic()
        hard_deadline = time.monotonic() + deadline_s
        timed_out = False
        while reports.points < readings:
            now = time.monotonic()
            if reports.points != last_points:
                last_points, last_change = reports.points, now
            if published is None and pub.proc.poll() is not None:
                published = pub.finish()
            if pub.failed():
                raise SystemExit("publisher failed during the Node-RED run")
            # Everything published, nothing reported for a while: the rest is lost.
            if (published is not None and now - last_change > stall_s) or node.proc.poll() is not None:
                break
            if now > hard_deadline:
                timed_out = True
                break
            time.sleep(0.02)
        if published is None:
            published = pub.finish()
        if poller:
            while not poller.done and time.monotonic() < hard_deadline and reports.points >= readings:
                time.sleep(0.05)
            poller.stop()
        errors = node.errors()[errors_before:]
        exited = node.proc.poll()
    finally:
        node.stop()
        reports.close()
    stored = store.count() - base
    store.close()
    written = sum(n for _, n in reports.written)
    out = {"readings": readings, "stored": stored, "lost": readings - stored, "reported_written": written,
           "reported_failed": sum(f[1] for f in reports.failed),
           "publish_readings_per_s": round(readings / (published - pub.start)),
           "node_red_error_lines": len(errors), "node_red_exited": exited, "timed_out": timed_out,
           "ready_s": round(ready_s, 1), "load_before": load_before}
    if errors:
        out["first_error"] = errors[0][:300]
    if reports.written:
        end = max(t for t, _ in reports.written)
        out.update({"readings_per_s": round(written / (end - pub.start)), "seconds": round(end - pub.start, 3)})
        trace, total = [], 0
        for t, n in sorted(reports.written):
            total += n
            trace.append((t, total))
        out["steady_readings_per_s"] = _round(steady_rate(trace, written))
    else:
        out.update({"readings_per_s": 0, "seconds": None, "steady_readings_per_s": None})
    if written < readings:
        out["incomplete"] = True  # the rate is that of what was written
    if poller:
        between = poller.complete_between()
        if between:
            out.update({"stored_readings_per_s": round(readings / (between[1] - pub.start)),
                        "stored_s": round(between[1] - pub.start, 3),
                        "stored_s_poll_uncertainty": round(between[1] - between[0], 3)})
    return out


def _round(value: float | None) -> int | None:
    return None if value is None else round(value)


# --------------------------------------------------------------------------- main


def versions(node: str, node_red: dict) -> dict:
    """Return the versions of everything on the path."""
    def first_line(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"

    import paho.mqtt

    return {"node": node, **node_red, "influxd": first_line(["influxd", "version"]),
            "mosquitto": first_line(["mosquitto", "-h"]), "python": sys.version.split()[0],
            "paho_mqtt": paho.mqtt.__version__}


def ratio(a: float | None, b: float | None) -> float | None:
    """Return a / b rounded, or None when either is missing."""
    return round(a / b, 3) if a and b else None


def median(values: list) -> float | None:
    """Return the median of the values that are there."""
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def main(argv=None) -> int:
    """Run the comparison and print its figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--readings", type=int, default=300_000, help="readings per Wardlink and raw run")
    parser.add_argument("--node-red-readings", type=int, default=None,
                        help="readings per Node-RED run, the first of the same messages (default: --readings)")
    parser.add_argument("--per-message", type=int, default=1000, help="readings per telemetry message")
    parser.add_argument("--gateways", type=int, default=20, help="gateways the messages come from")
    parser.add_argument("--batch-points", type=int, default=10_000, help="the Wardlink worker's max_batch_points")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of wardlink + node-red; medians are reported")
    parser.add_argument("--poll-interval", type=float, default=0.0,
                        help="also poll influxd's point count every this many seconds during the runs and report "
                             "when it was complete (a cross-check; the queries load influxd); 0: off")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="seconds without a new stored point, after the last publish, before the rest of a "
                             "Node-RED run counts as lost")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one Node-RED run may take at most")
    parser.add_argument("--node-red-dir", type=Path, default=default_cache(),
                        help="where npm installs Node-RED (outside the repository)")
    args = parser.parse_args(argv)
    if args.node_red_readings is None:
        args.node_red_readings = args.readings
    if not (1 <= args.gateways <= 1000 and args.repeat >= 1 and 1 <= args.per_message <= 5000
            and 0 < args.node_red_readings and 0 < args.readings and args.poll_interval >= 0):
        parser.error("need 1..1000 gateways, 1..5000 readings per message, positive counts and interval")
    node_version = check_node()
    cache = args.node_red_dir.expanduser().resolve()
    if cache.is_relative_to(HERE.parent):
        parser.error("--node-red-dir must be outside the repository")
    node_red_versions = install_node_red(cache)

    now_ms = SystemClock().now_ms()
    messages = build_messages(max(args.readings, args.node_red_readings), args.per_message, args.gateways, now_ms)
    table = bindings(args.gateways)
    with tempfile.TemporaryDirectory(prefix="wardlink-bench-") as tmp:
        work = Path(tmp)
        sizes = {}
        spools = {}
        for side, wanted in (("wardlink", args.readings), ("node_red", args.node_red_readings)):
            count = -(-wanted // args.per_message)
            spools[side] = write_spool(messages[:count], work / f"messages-{side}.bin")
            sizes[side] = (count, min(wanted, count * args.per_message))
        lines = line_protocol(messages[:sizes["wardlink"][0]], StaticResolver(table), now_ms, work)
        if len(lines) != sizes["wardlink"][1]:
            raise SystemExit(f"expected {sizes['wardlink'][1]} lines, built {len(lines)}")
        del messages
        bindings_file = work / "bindings.json"
        bindings_file.write_text(json.dumps(table))
        wardlink_runs, node_red_runs = [], []
        with servers(work) as (mosquitto, influx):
            publish_probe(mosquitto)
            load_start = load_average()
            raws = [raw_line_protocol(influx, lines, "bench_raw_0")]
            for run in range(args.repeat):
                print(f"round {run + 1}/{args.repeat}: wardlink", file=sys.stderr, flush=True)
                wardlink_runs.append(run_wardlink(mosquitto, influx, spools["wardlink"], sizes["wardlink"][0],
                                                  sizes["wardlink"][1], work, bindings_file, run, 1,
                                                  args.batch_points, poll_interval_s=args.poll_interval or None))
                print(f"round {run + 1}/{args.repeat}: node-red", file=sys.stderr, flush=True)
                node_red_runs.append(run_node_red(cache, work, mosquitto, influx, spools["node_red"],
                                                  sizes["node_red"][1], bindings_file, run, args.poll_interval or None,
                                                  args.stall, args.timeout))
                raws.append(raw_line_protocol(influx, lines, f"bench_raw_{run + 1}"))
                print(f"round {run + 1}: wardlink {wardlink_runs[-1]['readings_per_s']}/s, "
                      f"node-red {node_red_runs[-1]['readings_per_s']}/s, raw {round(raws[-1])}/s",
                      file=sys.stderr, flush=True)
            load_end = load_average()

    raw_means = [(raws[i] + raws[i + 1]) / 2 for i in range(args.repeat)]
    wl = [r["readings_per_s"] for r in wardlink_runs]
    nr = [r["readings_per_s"] for r in node_red_runs]
    result = {
        "benchmark": "compare",
        "readings_per_message": args.per_message,
        "gateways": args.gateways,
        "wardlink_readings": sizes["wardlink"][1],
        "node_red_readings": sizes["node_red"][1],
        "repeat": args.repeat,
        "wardlink_per_s": round(median(wl)),
        "raw_per_s": round(statistics.median(raws)),
        "node_red_per_s": round(median(nr)),
        "ratio_vs_raw": median([ratio(w, r) for w, r in zip(wl, raw_means)]),
        "ratio_vs_node_red": median([ratio(w, n) for w, n in zip(wl, nr)]),
        "node_red_vs_raw": median([ratio(n, r) for n, r in zip(nr, raw_means)]),
        "wardlink_runs_per_s": wl,
        "wardlink_steady_runs_per_s": [r.get("steady_readings_per_s") for r in wardlink_runs],
        "node_red_runs_per_s": nr,
        "node_red_steady_runs_per_s": [r["steady_readings_per_s"] for r in node_red_runs],
        "raw_runs_per_s": [round(r) for r in raws],
        "ratio_vs_raw_runs": [ratio(w, r) for w, r in zip(wl, raw_means)],
        "ratio_vs_node_red_runs": [ratio(w, n) for w, n in zip(wl, nr)],
        "node_red_stored": [r["stored"] for r in node_red_runs],
        "node_red_lost": [r["lost"] for r in node_red_runs],
        "node_red_failed_writes_points": [r["reported_failed"] for r in node_red_runs],
        "node_red_error_lines": [r["node_red_error_lines"] for r in node_red_runs],
        "wardlink_worker_cpu_s": [r["worker_cpu_s"] for r in wardlink_runs],
        "node_red_details": node_red_runs,
        "versions": versions(node_version, node_red_versions),
        "load_average_start": load_start,
        "load_average_end": load_end,
        "cpus": os.cpu_count(),
    }
    if args.poll_interval:
        result.update({
            "poll_interval_s": args.poll_interval,
            "wardlink_stored_runs_per_s": [r.get("stored_readings_per_s") for r in wardlink_runs],
            "node_red_stored_runs_per_s": [r.get("stored_readings_per_s") for r in node_red_runs],
            "poll_uncertainty_s": {"wardlink": [r.get("stored_s_poll_uncertainty") for r in wardlink_runs],
                                   "node_red": [r.get("stored_s_poll_uncertainty") for r in node_red_runs]}})
    if sizes["node_red"][1] != sizes["wardlink"][1]:
        result["note"] = (f"Node-RED got {sizes['node_red'][1]} readings per run, Wardlink and raw "
                          f"{sizes['wardlink'][1]}; compare node_red_steady_runs_per_s with node_red_runs_per_s "
                          "to see that the Node-RED figure is a steady-state rate")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
