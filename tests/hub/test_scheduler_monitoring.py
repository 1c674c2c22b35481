"""The scheduler's /metrics and /health, its log line when the database is unreachable, its
watchdog, and the command under systemd with journald priorities. Prometheus' own text parser
reads the metrics; a real AF_UNIX datagram socket stands for systemd; a manual clock stands for
the time a wedged job keeps the loop from going round."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ingest_support import migrated_engine
from prometheus_client.parser import text_string_to_metric_families
from relational_support import engine
from waiting import wait_for

from wardlink.hub.db import open_engine
from wardlink.hub.scheduler import Job, Scheduler
from wardlink.hub.scheduler.monitoring import scheduler_families, scheduler_health
from wardlink.metrics import render
from wardlink.monitor import MonitorServer
from wardlink.clock import ManualClock
from wardlink.systemd import Notifier, Watchdog

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, str | None], float]:
    """Return (sample name, job label) -> value."""
    return {(s.name, s.labels.get("job")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def ok_job(ctx) -> dict:
    return {"done": True}


def bad_job(ctx) -> dict:
    raise RuntimeError("cannot do it")


JOBS = (Job("ok_job", 60.0, ok_job, "succeeds"), Job("bad_job", 60.0, bad_job, "fails"))


def test_metrics_show_the_leader_and_each_jobs_runs_failures_and_last_run(engine):
    clock = ManualClock(1_767_229_200.0)
    leader = Scheduler(engine, clock=clock, holder="north", jobs=JOBS)
    standby = Scheduler(engine, clock=clock, holder="south", jobs=JOBS)
    monitors = [MonitorServer(f"scheduler {s.holder}", metrics=lambda s=s: render(scheduler_families(s)),
                              health=lambda s=s: scheduler_health(s)).start("127.0.0.1", 0) for s in (leader, standby)]
    north, south = (f"http://127.0.0.1:{m.port}" for m in monitors)
    try:
        leader.run_once()
        standby.run_once()
        clock.advance(60)
        leader.run_once()
        figures = samples(get(f"{north}/metrics")[1])
        assert figures[("wardlink_scheduler_leader", None)] == 1
        assert figures[("wardlink_scheduler_rounds_total", None)] == 2
        assert figures[("wardlink_scheduler_job_runs_total", "ok_job")] == 2
        assert figures[("wardlink_scheduler_job_failures_total", "ok_job")] == 0
        assert figures[("wardlink_scheduler_job_runs_total", "bad_job")] == 2
        assert figures[("wardlink_scheduler_job_failures_total", "bad_job")] == 2
        assert figures[("wardlink_scheduler_job_last_run_success", "ok_job")] == 1
        assert figures[("wardlink_scheduler_job_last_run_success", "bad_job")] == 0
        assert figures[("wardlink_scheduler_job_last_run_timestamp_seconds", "ok_job")] == clock.now()
        assert figures[("wardlink_scheduler_job_period_seconds", "ok_job")] == 60
        assert figures[("wardlink_scheduler_healthy", None)] == 1
        status, body = get(f"{north}/health")
        assert (status, json.loads(body)) == (200, {"status": "ok", "reasons": [], "holder": "north",
                                                    "role": "leader", "failing_jobs": ["bad_job"]})

        figures = samples(get(f"{south}/metrics")[1])
        assert figures[("wardlink_scheduler_leader", None)] == 0
        assert figures[("wardlink_scheduler_job_runs_total", "ok_job")] == 0
        assert ("wardlink_scheduler_job_last_run_timestamp_seconds", "ok_job") not in figures  # never ran
        assert json.loads(get(f"{south}/health")[1])["role"] == "standby"  # waiting is healthy
        assert get(f"{south}/health")[0] == 200
    finally:
        for monitor in monitors:
            monitor.close()
        leader.close()
        standby.close()


def test_an_unreachable_database_is_unhealthy_and_logged_at_a_bounded_rate(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = open_engine(f"postgresql+psycopg://wardlink@127.0.0.1:{port}/wardlink")
    clock = ManualClock()
    scheduler = Scheduler(db, clock=clock, holder="lonely", jobs=JOBS)
    caplog.set_level(logging.INFO, logger="wardlink.hub.scheduler")
    try:
        scheduler.run_once()
        clock.advance(20)
        scheduler.run_once()
        first = (f"scheduler lonely: the database at 127.0.0.1:{port} is unreachable: cannot claim the leadership: "
                 "connection refused; retrying")
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [first]
        report = scheduler_health(scheduler)
        assert report.reasons == ("the database does not answer (for 20 s): cannot claim the leadership: "
                                  "connection refused",)
        assert samples(render(scheduler_families(scheduler)))[("wardlink_scheduler_database_up", None)] == 0
        clock.advance(41)
        scheduler.run_once()
        assert caplog.records[-1].getMessage() == (
            f"scheduler lonely: the database at 127.0.0.1:{port} is still unreachable after 3 attempts in 61 s: "
            "cannot claim the leadership: connection refused")
    finally:
        scheduler.close()
        db.dispose()


def test_a_wedged_job_stops_the_watchdog_pets_until_the_loop_goes_round_again(engine, tmp_path):
    entered, release = threading.Event(), threading.Event()

    def stuck(ctx) -> dict:
        entered.set()
        release.wait(60)
        return {}

    clock = ManualClock(1_767_229_200.0)
    scheduler = Scheduler(engine, clock=clock, holder="wedge", jobs=(Job("stuck", 60.0, stuck, "hangs"),))
    scheduler.heartbeat.max_silence_s = 30
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "notify.sock"))
    systemd.settimeout(10)
    watchdog = Watchdog(Notifier(str(tmp_path / "notify.sock")), 60.0, scheduler.heartbeat.problem)
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run, args=(stop,), kwargs={"round_s": 0.05})
    loop.start()
    try:
        entered.wait(10)
        assert watchdog.tick() and systemd.recv(4096) == b"WATCHDOG=1\n"
        clock.advance(31)  # the job holds the loop for 31 s of the scheduler's clock
        assert not watchdog.tick() and not watchdog.tick()
        assert systemd.recv(4096) == b"STATUS=unhealthy: the scheduler loop has not gone round for 31 s\n"
        assert scheduler_health(scheduler).reasons == ("the scheduler loop has not gone round for 31 s",)
        release.set()
        wait_for(lambda: scheduler.heartbeat.problem() is None, 10, "the loop to go round again")
        assert watchdog.tick()
        assert systemd.recv(4096) == b"STATUS=running\n" and systemd.recv(4096) == b"WATCHDOG=1\n"
        assert watchdog.pets == 2
    finally:
        release.set()
        stop.set()
        loop.join(10)
        systemd.close()


def test_the_command_says_ready_pets_the_watchdog_serves_metrics_and_logs_with_priorities(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrated_engine(url).dispose()
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "notify.sock"))
    systemd.settimeout(30)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDLINK_", "NOTIFY_", "WATCHDOG_", "JOURNAL_"))}
    env.update({"WARDLINK_DATA_DIR": str(tmp_path), "WARDLINK_DATABASE_URL": url,
                "WARDLINK_SCHEDULER_METRICS_PORT": str(port), "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
                "WATCHDOG_USEC": "400000"})
    log_path = tmp_path / "journal.txt"
    with log_path.open("w") as journal:
        st = os.fstat(journal.fileno())
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"  # standard error is "the journal"
        proc = subprocess.Popen([sys.executable, "-m", "wardlink.hub.cli", "hub", "scheduler", "--round", "0.1",
                                 "--holder", "cmd"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=journal)
    base = f"http://127.0.0.1:{port}"
    try:
        messages = []

        def received(key: str) -> bool:
            messages.append(systemd.recv(4096).decode())
            return f"{key}=1" in messages[-1]

        wait_for(lambda: received("READY"), 30, "READY=1")
        assert messages[-1] == "READY=1\nSTATUS=scheduler cmd\n"
        for _ in range(3):
            wait_for(lambda: received("WATCHDOG"), 10, "WATCHDOG=1")
        first = samples(get(f"{base}/metrics")[1])
        assert first[("wardlink_scheduler_leader", None)] == 1
        assert first[("wardlink_scheduler_job_runs_total", "pm_generate")] == 1
        wait_for(lambda: samples(get(f"{base}/metrics")[1])[("wardlink_scheduler_rounds_total", None)]
                 > first[("wardlink_scheduler_rounds_total", None)], 10, "more rounds")
        assert get(f"{base}/health")[0] == 200
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: received("STOPPING"), 30, "STOPPING=1")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        systemd.close()
    lines = log_path.read_text().splitlines()
    assert "<6>INFO wardlink: scheduler cmd started; rounds every 0.1 s" in lines
    assert "<6>INFO wardlink.hub.scheduler.loop: scheduler cmd is now the leader" in lines
    assert all(line[:3] in ("<3>", "<4>", "<6>", "<7>") for line in lines), lines
