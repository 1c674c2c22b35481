"""Benchmark the gateway's forwarding path against a real Mosquitto.

Figures (one JSON object on the last line):

* ``pipeline_readings_per_s``: readings/s through the gateway from the sampler's hand-off
  (``Gateway.emit_readings``, which is what the sampler calls) through group commit to the
  SQLite buffer, batching, MQTT QoS 1 publish, PUBACK and delete. Driver reads are left out:
  a real sensor yields a few readings per second, the forwarding path is what has to scale.
* ``baseline_paho_readings_per_s``: a bare paho-mqtt client publishing the same batches
  (same payload size, QoS 1, same in-flight window) and waiting for every PUBACK, in the same
  run against the same broker; no buffer, no durability.
* ``drain_1m_s``: a gateway process (``wardlink-edge run``, 50 emulated channels) started with
  1,000,000 readings of backlog: seconds until its buffer is empty.
* ``peak_rss_mb``: that process's peak resident set size (VmHWM) while draining and sampling.

Usage: ``python bench/edge_forward.py [--readings N] [--backlog N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from servers import MosquittoServer  # noqa: E402

from wardlink.edge.buffer import Buffer, read_stats  # noqa: E402
from wardlink.edge.config import load_config  # noqa: E402
from wardlink.edge.gateway import Gateway  # noqa: E402
from wardlink.protocol import Reading, TelemetryBatch, encode  # noqa: E402

BATCH = 1000
INFLIGHT = 16


def channels_toml(n: int = 50) -> str:
    """Return n channels: INA219s at 13 addresses x 4 quantities, 1 s interval."""
    quantities = ("current", "bus_voltage", "power", "shunt_voltage")
    out = []
    for i in range(n):
        address = 0x40 + i // 4
        q = quantities[i % 4]
        out.append(f'[[channels]]\nid = "dock{i // 4}.{q}"\ndriver = "ina219"\nparams = {{ address = {address} }}\n'
                   f'quantity = "{q}"\ninterval = 1.0\n')
    return "\n".join(out)


def write_config(tmp: Path, port: int, *, replay_rate: float = 20000, health: float = 0) -> Path:
    path = tmp / "gateway.toml"
    path.write_text(f"""
gateway_id = "gw-bench"
data_dir = "{tmp / 'data'}"
[broker]
url = "mqtt://127.0.0.1:{port}"
[hardware]
backend = "emulated"
[buffer]
max_rows = 3000000
max_bytes = 536870912
[forwarder]
batch_max_readings = {BATCH}
max_inflight = {INFLIGHT}
replay_rate = {replay_rate}
[health]
interval = {health}
""" + channels_toml())
    return path


def synthetic(n: int, channels: list[str], start_ms: int) -> list[tuple[str, int, float, str]]:
    k = len(channels)
    return [(channels[i % k], start_ms + i // k, 20.0 + (i % 97) / 10, "good") for i in range(n)]


# --------------------------------------------------------------------------- pipeline


async def pipeline(config_path: Path, total: int) -> dict:
    config = load_config(config_path)
    gw = Gateway(config, sample=False)
    await gw.start()
    try:
        deadline = time.monotonic() + 20
        while not gw.forwarder.connected or gw.forwarder._floor is None:
            if time.monotonic() > deadline:
                raise RuntimeError("gateway did not connect")
            await asyncio.sleep(0.01)
        names = [c.id for c in config.channels]
        chunk = 5000
        start_ms = int(time.time() * 1000)
        t0 = time.perf_counter()
        fed = 0
        while fed < total:
            # The sampler never outruns the forwarder by more than a few commits' worth.
            if len(gw._pending) + gw.store.buffer.depth > 50_000:
                await asyncio.sleep(0.001)
                continue
            gw.emit_readings(synthetic(chunk, names, start_ms + fed))
            fed += chunk
            await asyncio.sleep(0)
        while gw.forwarder.stats.readings_acked < total:
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - t0
        depth = gw.store.buffer.depth
    finally:
        await gw.stop()
    return {"pipeline_readings_per_s": round(total / elapsed), "pipeline_s": round(elapsed, 3),
            "pipeline_left_in_buffer": depth}


def _publish_all(port: int, client_id: str, payloads) -> float:
    """Publish payloads (an iterable, possibly encoding lazily) at QoS 1; return seconds until all PUBACKs."""
    done = threading.Semaphore(0)
    window = threading.Semaphore(INFLIGHT)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(INFLIGHT)

    def on_publish(c, u, mid, rc, props):
        window.release()
        done.release()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    sent = 0
    t0 = time.perf_counter()
    for p in payloads:
        window.acquire()
        client.publish("wardlink/v1/gw-bench/telemetry", p, qos=1)
        sent += 1
    for _ in range(sent):
        done.acquire()
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    return elapsed


def baseline(port: int, total: int, names: list[str]) -> dict:
    readings = synthetic(total, names, int(time.time() * 1000))

    def encoded():
        for i in range(0, total, BATCH):
            batch = tuple(Reading(*r) for r in readings[i:i + BATCH])
            yield encode(TelemetryBatch("gw-bench", "baseline", i // BATCH, batch))

    with_encoding = _publish_all(port, "bench-baseline", encoded())
    payloads = list(encoded())
    transport_only = _publish_all(port, "bench-baseline-raw", payloads)
    return {"baseline_paho_readings_per_s": round(total / with_encoding),
            "baseline_paho_preencoded_readings_per_s": round(total / transport_only)}


# --------------------------------------------------------------------------- drain


def vm_hwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def drain(tmp: Path, port: int, backlog: int) -> dict:
    config_path = write_config(tmp, port, replay_rate=10_000_000, health=5)
    config = load_config(config_path)
    names = [c.id for c in config.channels]
    start_ms = int(time.time() * 1000) - 3_600_000
    with Buffer(config.data_dir, config.buffer) as buf:
        for i in range(0, backlog, 50_000):
            buf.add_readings(synthetic(min(50_000, backlog - i), names, start_ms + i))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = open(tmp / "gateway.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "wardlink.edge.cli", "run", "--config", str(config_path)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    peak = 0
    try:
        while True:
            peak = max(peak, vm_hwm_kb(proc.pid) or 0)
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {proc.returncode}; see {tmp / 'gateway.log'}")
            stats = read_stats(config.data_dir)
            # What is left is the live sampling of the 50 channels, not backlog.
            if stats.readings < 200 and stats.published >= backlog:
                break
            if time.perf_counter() - t0 > 300:
                raise RuntimeError("backlog not drained in 300 s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        # Keep sampling a few seconds more: the steady-state footprint with 50 channels.
        time.sleep(3)
        peak = max(peak, vm_hwm_kb(proc.pid) or 0)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    return {"drain_1m_s" if backlog == 1_000_000 else f"drain_{backlog}_s": round(elapsed, 3),
            "peak_rss_mb": round(peak / 1024, 1), "gateway_exit": proc.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=1_000_000, help="readings through the pipeline")
    parser.add_argument("--backlog", type=int, default=1_000_000, help="backlog to drain")
    args = parser.parse_args()
    result: dict = {"benchmark": "edge_forward", "batch": BATCH, "max_inflight": INFLIGHT, "channels": 50,
                    "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="wardlink-bench-") as tmpdir:
        tmp = Path(tmpdir)
        broker = MosquittoServer(tmp / "mosquitto")
        broker.start()
        try:
            (tmp / "pipe").mkdir()
            config_path = write_config(tmp / "pipe", broker.port)
            names = [c.id for c in load_config(config_path).channels]
            result.update(baseline(broker.port, args.readings, names))
            result.update(asyncio.run(pipeline(config_path, args.readings)))
            result["pipeline_vs_baseline"] = round(
                result["pipeline_readings_per_s"] / result["baseline_paho_readings_per_s"], 3)
            (tmp / "drain").mkdir()
            result.update(drain(tmp / "drain", broker.port, args.backlog))
        finally:
            broker.close()
    result["targets"] = {"pipeline_readings_per_s": 100_000, "drain_1m_s": 20, "peak_rss_mb": 60}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
