"""Zero loss end to end against a real Mosquitto: every committed reading reaches a subscriber.

"Sampled" is the gateway's own journal (journal.db, written in the same transaction as the
buffer), "received" is what a persistent QoS 1 subscriber decoded. Duplicates on the wire are
allowed (at-least-once); each test reports how many it saw and bounds them.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time

import pytest

from wardlink.clock import ManualClock

from wardlink.edge.buffer import Buffer, read_stats
from wardlink.edge.config import load_config
from wardlink.edge.gateway import Gateway

from edge_support import PYTHON, ROOT, edge_env, explain_missing, journal, wait_until, write_config


async def until(predicate, timeout: float, what: str) -> None:
    """Wait on the event loop until ``predicate()`` holds, failing after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def journal_count(data_dir) -> int:
    try:
        return len(journal(data_dir))
    except sqlite3.OperationalError:
        return 0


def report_duplicates(sink, bound: int) -> int:
    dups = sink.duplicates()
    print(f"duplicates on the wire: {dups} (bound {bound})")
    assert dups <= bound
    return dups


@pytest.mark.timeout(90)
def test_no_reading_lost_when_the_broker_restarts_mid_stream(tmp_path, mosquitto, sink_factory):
    """Readings flow, the broker stops while the gateway samples on, restarts; none is lost."""
    config = load_config(write_config(tmp_path, mosquitto.port, interval=0.1))
    data_dir = config.data_dir
    sink = sink_factory(mosquitto.host, mosquitto.port)

    async def scenario():
        gw = Gateway(config)
        await gw.start()
        try:
            await until(lambda: len(sink.received()) >= 40, 15, "first readings")
            await asyncio.to_thread(mosquitto.stop)
            await until(lambda: not gw.forwarder.connected, 10, "the gateway to notice")
            before = journal_count(data_dir)
            await until(lambda: journal_count(data_dir) >= before + 60, 15, "readings sampled during the outage")
            assert gw.store.buffer.depth > 0, "readings pile up in the buffer while the broker is away"
            await asyncio.to_thread(mosquitto.start)
            await until(lambda: gw.forwarder.connected, 15, "reconnection")
            after = journal_count(data_dir)
            await until(lambda: journal_count(data_dir) >= after + 40, 15, "readings after reconnect")
            await until(lambda: not gw.forwarder.replaying, 10, "the end of the replay")
        finally:
            await gw.stop()

    asyncio.run(scenario())
    assert read_stats(data_dir).readings == 0, "a clean stop flushes every committed reading"
    sampled = journal(data_dir)
    try:
        sink.wait_for(lambda s: sampled <= s.received(), 20, "every sampled reading")
    except AssertionError:
        raise AssertionError(explain_missing(data_dir, sink)) from None
    assert sink.received() == sampled
    report_duplicates(sink, bound=config.forwarder.max_inflight * config.forwarder.batch_max_readings)
    assert any(b.late for b in sink.batches), "the outage backlog was replayed as late"
    assert len(sink.received()) >= 40 + 60 + 40, "readings before, during and after the outage"


@pytest.mark.timeout(120)
def test_no_reading_lost_when_the_gateway_is_killed_and_restarted(tmp_path, mosquitto, sink_factory):
    """The gateway process dies by SIGKILL mid-stream; after a restart every committed reading arrives."""
    path = write_config(tmp_path, mosquitto.port, interval=0.1)
    data_dir = tmp_path / "data"
    sink = sink_factory(mosquitto.host, mosquitto.port)
    cmd = [PYTHON, "-m", "wardlink.edge.cli", "run", "--config", str(path)]
    log1 = open(tmp_path / "run1.log", "wb")
    first = subprocess.Popen(cmd, env=edge_env(), cwd=ROOT, stdout=log1, stderr=subprocess.STDOUT)
    try:
        sink.wait_for(lambda s: len(s.received()) >= 80, 30, "readings from the first run")
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
        log1.close()
    # The broker sends the Last Will when the dead gateway's connection drops.
    sink.wait_for(lambda s: any(st.state == "offline" for st in s.statuses), 30, "the Last Will")
    boot1 = next(st.boot for st in sink.statuses if st.state == "online")
    killed_at = journal_count(data_dir)
    log2 = open(tmp_path / "run2.log", "wb")
    second = subprocess.Popen(cmd, env=edge_env(), cwd=ROOT, stdout=log2, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: journal_count(data_dir) >= killed_at + 60, 30, "readings from the second run")
        # Stop only once the first run's leftovers have been replayed (what is left after a
        # clean stop would wait for the next start, which this test does not make).
        snapshot = journal(data_dir)
        sink.wait_for(lambda s: snapshot <= s.received(), 20, "the replay of the killed run's readings")
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, (tmp_path / "run2.log").read_text()
    finally:
        if second.poll() is None:
            second.kill()
        log2.close()
    sampled = journal(data_dir)
    try:
        sink.wait_for(lambda s: sampled <= s.received(), 20, "every committed reading")
    except AssertionError:
        raise AssertionError(explain_missing(data_dir, sink)) from None
    assert sink.received() == sampled
    report_duplicates(sink, bound=16 * 1000)
    boots = {b.boot for b in sink.batches}
    assert len(boots) == 2 and boot1 in boots, "each process start has its own boot id"
    last = sink.statuses[-1]
    assert last.state == "offline" and last.boot != boot1, "a clean stop publishes offline"
    log_text = (tmp_path / "run2.log").read_text()
    assert "stopped" in log_text


def _step(gw: Gateway, clock: ManualClock, seconds: int):
    async def run():
        for _ in range(seconds):
            clock.advance(1.0)
            tasks = gw.sampler.sample_due()
            if tasks:
                await asyncio.gather(*tasks)
        await gw.commit()
    return run()


@pytest.mark.timeout(120)
def test_an_hour_offline_is_replayed_late_and_complete(tmp_path, mosquitto, sink_factory):
    """The broker is unreachable for a simulated hour (manual clock); then everything arrives, late."""
    config = load_config(write_config(tmp_path, mosquitto.port, interval=1.0))
    sink = sink_factory(mosquitto.host, mosquitto.port)
    mosquitto.stop()
    clock = ManualClock()

    async def scenario():
        gw = Gateway(config, clock=clock, sample=False)
        await gw.start()
        try:
            outage_start = clock.now_ms()
            for _ in range(60):
                await _step(gw, clock, 60)
            assert not gw.forwarder.connected
            depth = gw.store.buffer.depth
            assert depth == 4 * 3600
            await asyncio.to_thread(mosquitto.start)
            await until(lambda: gw.forwarder.connected, 15, "reconnection")
            # Back online: live readings keep flowing while the hour is replayed.
            await _step(gw, clock, 5)
            await until(lambda: gw.store.buffer.depth == 0, 30, "the backlog to drain")
            return outage_start, depth
        finally:
            await gw.stop()

    outage_start, depth = asyncio.run(scenario())
    sampled = journal(config.data_dir)
    sink.wait_for(lambda s: sampled <= s.received(), 20, "every reading of the hour")
    assert sink.received() == sampled
    report_duplicates(sink, bound=0)
    late = {(r.channel, r.ts_ms) for b in sink.batches if b.late for r in b.readings}
    assert len(late) == depth, "the whole hour was replayed as late"
    live = {(r.channel, r.ts_ms) for b in sink.batches if not b.late for r in b.readings}
    assert live and min(ts for _, ts in live) > max(ts for _, ts in late), "only post-outage readings are live"
    online = [s for s in sink.statuses if s.state == "online"]
    assert online[0].buffer_depth == depth
    assert online[0].oldest_unsent_ms >= 3600 * 1000 - 2000, "status reports the age of the oldest unsent reading"


@pytest.mark.timeout(120)
def test_full_buffer_loses_only_the_oldest_telemetry_and_says_so(tmp_path, mosquitto, sink_factory):
    """A small buffer overflows during an outage: exactly the oldest readings go, marked and counted."""
    config = load_config(write_config(tmp_path, mosquitto.port, interval=1.0,
                                      buffer="max_rows = 1000\nreserved_event_rows = 50"))
    sink = sink_factory(mosquitto.host, mosquitto.port)
    mosquitto.stop()
    clock = ManualClock()

    async def scenario():
        gw = Gateway(config, clock=clock, sample=False)
        await gw.start()
        try:
            for _ in range(10):
                await _step(gw, clock, 50)  # 4 channels x 500 s = 2000 readings
            assert gw.store.buffer.depth == 950
            await asyncio.to_thread(mosquitto.start)
            await until(lambda: gw.forwarder.connected, 15, "reconnection")
            await until(lambda: gw.store.buffer.depth == 0, 30, "the buffer to drain")
        finally:
            await gw.stop()

    asyncio.run(scenario())
    conn = sqlite3.connect(config.data_dir / "journal.db")
    rows = conn.execute("SELECT row_id, channel, ts FROM readings ORDER BY row_id").fetchall()
    conn.close()
    assert len(rows) == 2000
    dropped = {(ch, ts) for _, ch, ts in rows[:1050]}
    kept = {(ch, ts) for _, ch, ts in rows[1050:]}
    sink.wait_for(lambda s: kept <= s.received(), 20, "every kept reading")
    sink.wait_for(lambda s: s.events_of("buffer.overflow"), 10, "the gap marker")
    received = sink.received()
    assert received & dropped == set(), "dropped readings were the oldest ones, and only those"
    assert received == kept
    gaps = sink.events_of("buffer.overflow")
    assert sum(g.data["dropped"] for g in gaps) == 1050
    assert min(g.data["first_ts"] for g in gaps) == min(ts for _, ts in dropped)
    assert max(g.data["last_ts"] for g in gaps) == max(ts for _, ts in dropped)
    sink.wait_for(lambda s: any(st.dropped == 1050 for st in s.statuses), 10, "dropped count in the status")
    report_duplicates(sink, bound=0)


@pytest.mark.timeout(120)
def test_live_readings_overtake_a_large_backlog(tmp_path, mosquitto, sink_factory):
    """With 60,000 readings of backlog replayed at 20,000/s, fresh readings still arrive within 2 s."""
    config = load_config(write_config(tmp_path, mosquitto.port, interval=0.1,
                                      forwarder="replay_rate = 20000\nbatch_max_readings = 1000"))
    backlog_start = int(time.time() * 1000) - 3_600_000
    with Buffer(config.data_dir, config.buffer) as buf:
        for chunk in range(60):
            buf.add_readings([("old.meter", backlog_start + (chunk * 1000 + i) * 50, float(i), "good")
                              for i in range(1000)])
    sink = sink_factory(mosquitto.host, mosquitto.port)
    backlog = {("old.meter", backlog_start + i * 50) for i in range(60_000)}

    async def scenario():
        gw = Gateway(config)
        await gw.start()
        started = time.time()
        try:
            await until(lambda: any(ch != "old.meter" and ts >= started * 1000 for ch, ts in sink.received()),
                        5, "a fresh reading")
            late_so_far = len(sink.received() & backlog)
            assert late_so_far < len(backlog), "the fresh reading arrived while the backlog was still replaying"
            await until(lambda: backlog <= sink.received(), 30, "the whole backlog")
            # Readings committed before the session started are backlog too; let them go out.
            await until(lambda: not gw.forwarder.replaying, 10, "the end of the replay")
        finally:
            await gw.stop()

    asyncio.run(scenario())
    assert read_stats(config.data_dir).readings == 0, "a clean stop flushes every live reading"
    sampled = journal(config.data_dir)
    sink.wait_for(lambda s: sampled <= s.received(), 20, "every live reading")
    replay_end = max(sink.arrival[k] for k in backlog)
    during = [k for k in sampled - backlog if sink.arrival[k] <= replay_end]
    assert during, "live readings were sampled during the replay"
    worst = max(sink.arrival_wall[k] - k[1] / 1000 for k in during)
    print(f"{len(during)} live readings during replay; worst latency {worst:.3f} s")
    assert worst < 2.0
    assert all(sink.values[k][2] for k in backlog), "backlog batches are marked late"
    assert not any(sink.values[k][2] for k in during), "live batches are not late"
