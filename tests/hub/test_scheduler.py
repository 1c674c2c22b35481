"""The scheduler: one leader at a time (a lease on SQLite, an advisory lock on PostgreSQL),
standbys that take over, jobs on their own periods of clock time, failures that stay
contained, and the `wardlink hub scheduler` command stopping cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pm_support import at
from relational_support import T0_MS, engine
from sqlalchemy import select, text
from waiting import wait_for

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.db.models import SchedulerJob, SchedulerLease
from wardlink.hub.db.types import utc_now
from wardlink.hub.rules import RulesEngine
from wardlink.hub.scheduler import JOBS, AdvisoryLeader, Job, LeaseLeader, Scheduler
from wardlink.hub.telemetry import Point
from wardlink.hub.telemetry.sqlite import SQLiteStore
from wardlink.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]


def _jobs(engine) -> dict[str, SchedulerJob]:
    with session_scope(engine, readonly=True) as s:
        return {row.name: row for row in s.scalars(select(SchedulerJob))}


def test_a_lease_has_one_holder_until_it_expires_or_is_released(engine):
    clock = ManualClock(at(2026, 1, 5))
    north = LeaseLeader(engine, clock=clock, holder="north", lease_s=60)
    south = LeaseLeader(engine, clock=clock, holder="south", lease_s=60)
    assert north.acquire() and not south.acquire()
    clock.advance(59)
    assert north.acquire() and not south.acquire()  # renewed for another 60 s
    clock.advance(59.999)
    assert not south.acquire()  # the lease renewed at +59 s runs until +119 s
    clock.advance(0.001)
    assert south.acquire() and not north.acquire()  # north stopped renewing: south takes over
    assert not north.is_leader and south.is_leader
    south.release()
    south.release()  # idempotent
    assert north.acquire()
    with session_scope(engine, readonly=True) as s:
        lease = s.get(SchedulerLease, "scheduler")
        assert (lease.holder, lease.expires_at) == ("north", utc_now(clock) + timedelta(seconds=60))


def test_only_the_leader_runs_jobs_each_on_its_own_period(engine):
    clock = ManualClock(at(2026, 1, 5))
    leader = Scheduler(engine, clock=clock, holder="north")
    standby = Scheduler(engine, clock=clock, holder="south")
    first = leader.run_once()
    assert first.leader and set(first.ran) == {j.name for j in JOBS} and not first.failed
    idle = standby.run_once()
    assert (idle.leader, idle.ran) == (False, {})
    assert leader.run_once().ran == {}  # nothing is due again at the same instant
    clock.advance(5)
    assert set(leader.run_once().ran) == {"rules_tick"}
    clock.advance(55)
    assert set(leader.run_once().ran) == {"rules_tick", "workorder_sla", "daily_digest", "manifold_supply",
                                          "measured_usage"}
    clock.advance(240)
    assert set(leader.run_once().ran) == {"rules_tick", "workorder_sla", "daily_digest", "manifold_supply",
                                          "measured_usage", "pm_generate", "maintenance_status", "pm_escalation",
                                          "monthly_report", "usage_reminders"}
    rows = _jobs(engine)
    assert (rows["rules_tick"].runs, rows["pm_generate"].runs, rows["pm_generate"].holder) == (4, 2, "north")
    assert rows["pm_generate"].last_summary["locked"] is True
    assert standby.run_once().ran == {}
    leader.close()
    assert set(standby.run_once().ran) == {j.name for j in JOBS}  # takes over and runs everything
    standby.close()
    with pytest.raises(RuntimeError, match="scheduler north is closed"):
        leader.run_once()


def test_a_failing_job_is_recorded_and_the_others_still_run(engine):
    clock = ManualClock(at(2026, 1, 5))

    def broken(ctx):
        raise ValueError("the outbox table is on fire")

    jobs = (Job("broken", 10.0, broken, "fails"), *[j for j in JOBS if j.name == "pm_generate"])
    scheduler = Scheduler(engine, clock=clock, holder="north", jobs=jobs)
    report = scheduler.run_once()
    assert report.failed == {"broken": "ValueError: the outbox table is on fire"}
    assert "pm_generate" in report.ran
    clock.advance(10)
    scheduler.run_once()
    row = _jobs(engine)["broken"]
    assert (row.runs, row.failures, row.last_ok_at) == (2, 2, None)
    assert row.last_error == "ValueError: the outbox table is on fire"
    scheduler.close()
    with pytest.raises(ValueError, match="periods.nightly: no such job"):
        Scheduler(engine, clock=clock, periods={"nightly": 5})
    with pytest.raises(ValueError, match="periods.rules_tick: must be > 0"):
        Scheduler(engine, clock=clock, periods={"rules_tick": 0})


def test_the_leader_ticks_the_rules_engine_and_prunes_old_sqlite_telemetry(engine, tmp_path):
    clock = ManualClock(T0_MS / 1000 + 40 * 86_400)  # 2026-02-10
    store = SQLiteStore(tmp_path / "telemetry.db")
    tags = {"gateway": "gw-icu-01", "channel": "fridge1.temp", "asset": "VF-0001"}
    old = [Point.of("temperature", tags, T0_MS + i * 60_000, 4.0 + i / 10) for i in range(5)]  # 2026-01-01
    new = [Point.of("temperature", tags, T0_MS + 39 * 86_400_000 + i * 60_000, 5.0) for i in range(3)]
    store.write(old + new)
    rules = RulesEngine(engine, clock=clock)
    scheduler = Scheduler(engine, clock=clock, holder="north", rules=rules, telemetry=store, retention_days=30)
    try:
        report = scheduler.run_once()
    finally:
        scheduler.close()
        store.close()
    assert report.ran["telemetry_retention"] == {"ran": True, "pruned": 5}
    assert report.ran["rules_tick"]["ran"] is True and report.ran["rules_tick"]["errors"] == 0
    with pytest.raises(ValueError, match="retention_days: must be > 0"):
        Scheduler(engine, clock=clock, retention_days=0)


@pytest.mark.timeout(60)
def test_the_advisory_lock_passes_on_when_the_leader_loses_its_connection(postgres_url):
    engine = open_engine(postgres_url)
    north, south = AdvisoryLeader(engine, holder="north"), AdvisoryLeader(engine, holder="south")
    try:
        assert north.acquire() and not south.acquire() and north.acquire()
        with engine.connect() as conn:  # an administrator (or a network fault) ends north's session
            killed = conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND objid = :low AND pid <> pg_backend_pid()"), {"low": AdvisoryLeader(engine).key & 0xFFFFFFFF}
            ).scalars().all()
            conn.commit()
        assert killed == [True]
        assert not north.acquire() and not north.is_leader
        assert south.acquire()
        north.release()  # idempotent on a lost lock
    finally:
        south.release()
        north.release()
        engine.dispose()


# ------------------------------------------------------------------ the command


def _start(tmp_path: Path, holder: str, url: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{holder}.log"
    env = {**os.environ, "WARDLINK_DATA_DIR": str(tmp_path), "WARDLINK_DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "wardlink.hub.cli", "hub", "scheduler", "--round", "0.2",
                             "--holder", holder], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=log.open("w"))
    return proc, log


def _wait(predicate, what: str, deadline_s: float = 30.0):
    return wait_for(predicate, deadline_s, what, interval=0.05)


def _assert_leadership_released(db, last_holder: str) -> None:
    # SQLite leadership is a lease row the last leader expires; PostgreSQL's is an advisory lock.
    if db.dialect.name == "postgresql":
        with db.connect() as conn:
            held = conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                     "AND database = (SELECT oid FROM pg_database "
                                     "WHERE datname = current_database())")).scalar_one()
        assert held == 0
        return
    with session_scope(db, readonly=True) as s:
        lease = s.get(SchedulerLease, "scheduler")
        assert lease.holder == last_holder and lease.expires_at <= utc_now(ManualClock(time.time()))


@pytest.mark.timeout(90)
def test_the_command_leads_or_stands_by_and_hands_over_on_sigterm(tmp_path, relational_url):
    url = relational_url
    db = open_engine(url)
    first, first_log = _start(tmp_path, "first", url)
    second = None
    try:
        _wait(lambda: "scheduler first is now the leader" in first_log.read_text(), "the first to lead")
        _wait(lambda: _jobs(db).get("pm_generate"), "the first round to be recorded")
        second, second_log = _start(tmp_path, "second", url)
        _wait(lambda: "scheduler second is now a standby" in second_log.read_text(), "the second to stand by")
        assert "is now the leader" not in second_log.read_text()
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        assert "scheduler first stopped" in first_log.read_text()
        _wait(lambda: "scheduler second is now the leader" in second_log.read_text(), "the standby to take over")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
        _assert_leadership_released(db, "second")
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        db.dispose()


def test_once_runs_a_single_round_and_prints_it(tmp_path, relational_url):
    url = relational_url
    env = {**os.environ, "WARDLINK_DATA_DIR": str(tmp_path), "WARDLINK_DATABASE_URL": url}
    out = subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "hub", "scheduler", "--once"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["leader"] is True and report["failed"] == {}
    assert report["ran"]["pm_generate"]["locked"] is True
    bad = subprocess.run([sys.executable, "-m", "wardlink.hub.cli", "hub", "scheduler", "--once", "--round", "0"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--round: must be > 0 seconds, got 0.0" in bad.stderr
