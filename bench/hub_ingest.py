"""Hub ingest throughput: MQTT publish -> committed in InfluxDB -> acknowledged, in readings/s.

Starts its own Mosquitto and influxd (``tests/servers.py``) on free ports, then measures in
one run:

- ``e2e``: a gateway-like publisher process publishes telemetry batches (QoS 1) into the
  broker while ingest worker processes (one by default; ``--workers 2`` puts two in one shared
  subscription group) decode, resolve every channel through a binding table, write to
  InfluxDB and acknowledge. The clock runs from the first publish to the last PUBACK a worker
  sends. Repeated ``--repeat`` times on fresh databases; the median run is the figure.
- ``baseline``: the same points, already formatted as line protocol, posted one request after
  the other straight to ``/write`` of the same influxd (gzip level 1, same request size): what
  the server absorbs from a client that does nothing else. Measured before the first run and
  after every run; each run's ratio is taken against the mean of the baselines just before
  and after it, so a change in the machine's load moves both sides of that ratio.
- ``cpu``: the CPU time one core spends per reading on protocol decoding, building points and
  line formatting alone, without servers (thread CPU time, steady state: caches warm and the
  start-up heap frozen as the worker freezes its own).

The machine may be shared, so absolute figures move with its load; the load average is
reported and the ratios to the same-run baseline are the figures to compare across runs.
The last line printed is one JSON object. Usage:

    python bench/hub_ingest.py [--readings 300000] [--per-message 1000] [--gateways 20]
                               [--batch-points 10000] [--workers 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

# _support (beside this file) also puts the repository and tests/ on sys.path.
from _support import (bindings, build_messages, load_average, publish_probe, raw_line_protocol, run_wardlink,
                      servers, write_spool)

from wardlink.hub.ingest import StaticResolver
from wardlink.hub.telemetry.lineprotocol import LineEncoder
from wardlink import protocol
from wardlink.clock import SystemClock


# --------------------------------------------------------------------------- CPU cost per reading


def cpu_figures(messages, resolver, now_ms: int, work: Path) -> tuple[dict, list[str]]:
    """Return the CPU ns per reading of decoding, point building and line formatting, and the lines.

    Message by message, as the worker goes, so that only one message's objects are alive at a
    time; each stage is timed with this thread's CPU clock, best of three passes.
    """
    from wardlink.hub.config import load_config
    from wardlink.hub.ingest import IngestWorker

    # A worker that is never started: its point builder, without a broker or a store.
    config = load_config(environ={}, overrides={"data_dir": str(work), "mqtt_url": "mqtt://127.0.0.1:1",
                                                "mqtt_client_id": "bench-cpu"})
    builder = IngestWorker(config, None, resolver)
    clock = time.thread_time
    best = [float("inf")] * 3
    gc.collect()
    gc.freeze()  # as the worker does with its start-up heap
    encoder = LineEncoder()
    for attempt in range(4):  # the first pass fills the series caches, as a running worker has them
        spent = [0.0] * 3
        lines: list[str] = []
        for _, payload in messages:
            t0 = clock()
            batch = protocol.decode_telemetry(payload, now_ms=now_ms)
            t1 = clock()
            points = builder._points(batch)
            t2 = clock()
            lines += encoder.lines(points)
            t3 = clock()
            spent[0] += t1 - t0
            spent[1] += t2 - t1
            spent[2] += t3 - t2
        if attempt:
            best = [min(b, s) for b, s in zip(best, spent)]
    gc.unfreeze()
    per = 1e9 / len(lines)
    return {"decode_ns_per_reading": round(best[0] * per), "points_ns_per_reading": round(best[1] * per),
            "encode_ns_per_reading": round(best[2] * per)}, lines


def main(argv=None) -> int:
    """Run the benchmark and print its figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=300_000)
    parser.add_argument("--per-message", type=int, default=1000)
    parser.add_argument("--gateways", type=int, default=20)
    parser.add_argument("--batch-points", type=int, default=10_000, help="the worker's max_batch_points")
    parser.add_argument("--workers", type=int, default=1, help="ingest worker processes (>1: one shared group)")
    parser.add_argument("--repeat", type=int, default=3, help="end-to-end runs; the median is reported")
    args = parser.parse_args(argv)
    if args.gateways > 1000 or args.workers < 1 or args.repeat < 1:
        parser.error("--gateways at most 1000, --workers and --repeat at least 1")

    now_ms = SystemClock().now_ms()
    messages = build_messages(args.readings, args.per_message, args.gateways, now_ms)
    table = bindings(args.gateways)
    runs = []
    with tempfile.TemporaryDirectory(prefix="wardlink-bench-") as tmp:
        work = Path(tmp)
        cpu, lines = cpu_figures(messages, StaticResolver(table), now_ms, work)
        readings = len(lines)
        spool = write_spool(messages, work / "messages.bin")
        bindings_file = work / "bindings.json"
        bindings_file.write_text(json.dumps(table))
        message_count = len(messages)
        del messages
        with servers(work) as (mosquitto, influx):
            publish_probe(mosquitto)
            load_start = load_average()
            # Baseline, run, baseline, run, ..., baseline: each run is compared with the mean of
            # the baselines just before and after it, so a change in the machine's load between
            # runs moves both sides of that run's ratio.
            baselines = [raw_line_protocol(influx, lines, "bench_raw_0")]
            for run in range(args.repeat):
                runs.append(run_wardlink(mosquitto, influx, spool, message_count, readings, work, bindings_file,
                                         run, args.workers, args.batch_points))
                baselines.append(raw_line_protocol(influx, lines, f"bench_raw_{run + 1}"))
            load_end = load_average()
    rates = [r["readings_per_s"] for r in runs]
    ratios = [rate / ((baselines[i] + baselines[i + 1]) / 2) for i, rate in enumerate(rates)]
    result = {
        "benchmark": "hub_ingest",
        "readings": readings,
        "messages": message_count,
        "readings_per_message": args.per_message,
        "gateways": args.gateways,
        "batch_points": args.batch_points,
        "workers": args.workers,
        "e2e_readings_per_s": round(statistics.median(rates)),
        "e2e_runs_readings_per_s": rates,
        "baseline_raw_line_protocol_readings_per_s": round(statistics.median(baselines)),
        "baseline_runs_readings_per_s": [round(b) for b in baselines],
        "e2e_vs_baseline": round(statistics.median(ratios), 3),
        "e2e_vs_baseline_runs": [round(r, 3) for r in ratios],
        "worker_cpu_us_per_reading": round(1e6 * statistics.median(sum(r["worker_cpu_s"]) for r in runs) / readings,
                                           2),
        "worker_gc_s": [r["worker_gc_s"] for r in runs],
        **cpu,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
