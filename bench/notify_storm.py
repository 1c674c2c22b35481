"""A notification storm: 10,000 notice events in a minute neither slow the web nor lose an e-mail.

Starts a hub as it runs in production, each part in its own process: the web server
(``wardlink hub web``, waitress), the scheduler that holds the notice mailer (``wardlink hub
scheduler`` with ``notice_email`` naming an e-mail notifier) and a real SMTP server (aiosmtpd,
from ``tests/servers.py``), on SQLite or a PostgreSQL it starts itself. Then:

1. baseline: ``GET /api/v1/health`` every 20 ms for ``--baseline-s`` seconds, nothing queued;
2. storm: ``--events`` notice events spread evenly over ``--storm-s`` seconds by
   ``--storm-procs`` processes through the services' entry points, each event in a transaction
   of its own as a request makes it (one in ten a work-order reassignment,
   ``workorders.reassign``; the rest the hook, ``notices.announce``), each queueing one e-mail,
   while the health endpoint is timed the same way;
3. drain: time the health endpoint until no e-mail is pending, then count the outbox rows,
   those marked sent and the messages the SMTP server received (and how many distinct outbox
   rows they name, so a duplicate shows).

With ``--hold-sender`` the scheduler (and so the mailer) is paused during the storm: the storm
then only queues, and the drain phase times the web while the mailer sends the whole backlog,
which gives the cost of sending alone and the mailer's rate. ``--rate N`` sets the hub's
``notice_email_rate`` (e-mails a second at most; 0 = no limit); without it the hub's default
applies.

Each process runs at the priority the shipped systemd units give it: the web server at the
normal one, the scheduler at its unit's ``Nice=`` (``--scheduler-nice``), and the storm processes
at the scheduler's too (``--storm-nice``), since a storm of this size is made by the scheduler's
jobs (SLA sweeps and escalations, PM orders, requisition escalations); ``--storm-nice 0`` makes
the events at the normal priority, as people's requests would. The unit's ``CPUWeight=`` (the
same share between units) needs a systemd manager, so it is not applied here.

Reports both p95s and their ratio, the drain time and the counts; the run fails when an
e-mail is missing, duplicated or not marked sent. The last line printed is one JSON object.

    python bench/notify_storm.py [--backend sqlite|postgresql|both] [--events 10000] [--storm-s 60]
                                 [--hold-sender] [--rate N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import _support  # noqa: F401  (puts the repository and tests/ on sys.path)
import requests
from _support import ScriptProcess, load_average
from servers import free_port
from sqlalchemy import func, select

from wardlink.hub.config import HubConfig
from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models import NoticeEmail, User
from wardlink.hub.db.types import utc_now
from wardlink.hub.seed import seed_demo_site
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users
from wardlink.clock import SystemClock

ROOT = Path(__file__).resolve().parent.parent
PROBE_INTERVAL_S = 0.02

# The SMTP server: prints how many messages it holds whenever that changes; on stdin's end, the
# final count and how many distinct outbox rows (X-Wardlink-Notice-Email) they name.
SMTP_SERVER = textwrap.dedent("""
    import json, sys, threading
    spec = json.loads(sys.argv[1])
    sys.path.insert(0, spec["tests"])
    from servers import SmtpSink
    sink = SmtpSink(port=spec["port"]).start()
    print("ready", flush=True)
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    last = -1
    while not closed.wait(0.1):
        if len(sink.messages) != last:
            last = len(sink.messages)
            print(f"received {last}", flush=True)
    rows = [m["X-Wardlink-Notice-Email"] for m in list(sink.messages)]
    sink.stop()
    print("final " + json.dumps({"received": len(rows), "distinct_rows": len(set(rows))}), flush=True)
""")

# One storm process: events ``part``, ``part + procs``, ... of ``events``, each at its time in
# ``storm_s`` seconds from the "go" line, each in its own transaction through the services.
STORM = textwrap.dedent("""
    import json, os, sys, time
    from wardlink.hub.db import open_engine, session_scope
    from wardlink.hub.db.models import User
    from wardlink.hub.services.actor import Actor
    from wardlink.hub.services.maintenance import workorders
    from wardlink.hub.services.notices import core as notices
    from wardlink.clock import SystemClock

    from wardlink.hub.config import load_config
    from wardlink.hub.db.audit_key import use_audit_key

    spec = json.loads(sys.argv[1])
    os.nice(spec["nice"])  # the priority of the unit that makes such a storm (the scheduler's)
    use_audit_key(load_config(spec["config"], environ={}), create=False)  # the hub's, as its web uses
    engine = open_engine(spec["url"])
    clock = SystemClock()
    techs, orders = spec["techs"], spec["orders"]
    with session_scope(engine) as s:
        admin = Actor.for_user(s.get(User, spec["admin"]), "192.0.2.50")
    print("ready", flush=True)
    sys.stdin.readline()
    share = range(spec["part"], spec["events"], spec["procs"])
    step = spec["storm_s"] / len(share)
    start = time.monotonic()
    late = 0
    for k, n in enumerate(share):
        wait = start + k * step - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -1:
            late += 1
        with session_scope(engine) as s:
            if n % 10 == 0:
                turn = n // 10
                order, round_ = orders[turn % len(orders)], turn // len(orders)
                workorders.reassign(s, order, techs[(turn + round_) % len(techs)], actor=admin, clock=clock)
            else:
                notices.announce(s, "low_stock", subject=f"Storm event {n}: gloves below minimum",
                                 body="Order more.\\n", link="/stock", key=f"storm:{n}", clock=clock,
                                 users=(techs[n % len(techs)],))
    print("final " + json.dumps({"events": len(share), "seconds": round(time.monotonic() - start, 3),
                                 "late_over_1s": late}), flush=True)
    sys.stdin.read()
""")


def fill(url: str, techs: int, orders: int) -> dict:
    """Migrate and seed the store: technicians with e-mail addresses and open work orders."""
    upgrade(url)
    engine = open_engine(url)
    clock = SystemClock()
    try:
        with session_scope(engine) as s:
            seed_demo_site(s, gateway_id="gw-bench", channels=[], clock=clock)
            users.create_first_admin(s, clock=clock)
        with session_scope(engine) as s:
            admin = s.scalars(select(User).where(User.role == "admin")).first()
            tech_ids = []
            for i in range(techs):  # one password hash for all: hashing is not what is measured
                user = User(username=f"storm{i:03d}", role="technician", display_name=f"Storm {i}",
                            email=f"storm{i:03d}@hospital.example", password_hash=admin.password_hash,
                            is_active=True, created_at=utc_now(clock))
                s.add(user)
                s.flush()
                tech_ids.append(user.id)
            actor = Actor.for_user(admin, "192.0.2.50")
            order_ids = [workorders.create_work_order(s, {"kind": "corrective", "title": f"Storm order {i}",
                                                          "asset_tag": "VF-0001", "priority": "low"},
                                                      actor=actor, clock=clock).id
                         for i in range(orders)]
            return {"admin": admin.id, "techs": tech_ids, "orders": order_ids}
    finally:
        engine.dispose()


def write_config(work: Path, url: str, smtp_port: int, rate: int | None = None) -> Path:
    """Write the hub's configuration and the rules file naming the SMTP server; return the former."""
    rules = work / "rules.toml"
    rules.write_text(f'[notifiers.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {smtp_port}\n'
                     'security = "none"\nsender = "wardlink@hospital.example"\nto = ["biomed@hospital.example"]\n')
    config = work / "hub.toml"
    config.write_text(f'[hub]\ndata_dir = "{work / "data"}"\ndatabase_url = "{url}"\nrules_file = "{rules}"\n'
                      f'notice_email = "mail"\npublic_url = "https://wardlink.hospital.example"\n'
                      f'secure_cookies = false\ntwo_factor_roles = ""\n'
                      + (f"notice_email_rate = {rate}\n" if rate is not None else ""))
    return config


def unit_nice(name: str) -> int:
    """Return the niceness (``Nice=``) the shipped systemd unit ``name`` runs its service at (0: unset)."""
    from wardlink.provisioning.units import render_unit

    values = [line.split("=", 1)[1] for line in render_unit(name).splitlines() if line.startswith("Nice=")]
    return int(values[-1]) if values else 0


def start_hub(config: Path, port: int, work: Path, scheduler_nice: int = 0) -> list[subprocess.Popen]:
    """Start the web server and the scheduler (with the mailer) at the niceness ``scheduler_nice``;
    return them once the web answers."""
    wardlink = str(Path(sys.executable).parent / "wardlink")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDLINK_")}
    logs = [open(work / name, "w") for name in ("web.log", "scheduler.log")]
    procs = [
        subprocess.Popen([wardlink, "--config", str(config), "hub", "web", "--port", str(port)], env=env,
                         stdout=logs[0], stderr=subprocess.STDOUT),
        subprocess.Popen([wardlink, "--config", str(config), "hub", "scheduler"], env=env,
                         stdout=logs[1], stderr=subprocess.STDOUT, preexec_fn=lambda: os.nice(scheduler_nice)),
    ]
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return procs
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop(procs)
            raise SystemExit(f"the hub did not start; see {work}/web.log and scheduler.log")
        time.sleep(0.2)


def stop(procs: list[subprocess.Popen]) -> None:
    """Stop the hub's processes (SIGTERM, then SIGKILL after 20 s)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def probe(port: int, until) -> list[float]:
    """Time ``GET /api/v1/health`` every 20 ms until ``until()`` is true; return milliseconds."""
    session = requests.Session()
    url = f"http://127.0.0.1:{port}/api/v1/health"
    spent = []
    next_at = time.monotonic()
    while not until():
        begin = time.perf_counter()
        answer = session.get(url, timeout=30)
        spent.append((time.perf_counter() - begin) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"health answered {answer.status_code}: {answer.text[:200]}")
        next_at += PROBE_INTERVAL_S
        time.sleep(max(0.0, next_at - time.monotonic()))
    session.close()
    return spent


def figures(spent: list[float]) -> dict:
    """Return p50, p95, p99 and max of ``spent`` (ms) and how many requests were timed."""
    ordered = sorted(spent)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))], 2)

    return {"requests": len(spent), "p50_ms": round(statistics.median(spent), 2), "p95_ms": q(0.95),
            "p99_ms": q(0.99), "max_ms": round(ordered[-1], 2)}


def outbox(engine) -> dict[str, int]:
    """Return the outbox's rows per state."""
    with session_scope(engine, readonly=True) as s:
        rows = s.execute(select(NoticeEmail.state, func.count()).group_by(NoticeEmail.state)).all()
    return {"pending": 0, "sent": 0, "failed": 0, **{state: n for state, n in rows}}


class SmtpServer(ScriptProcess):
    """The SMTP server in its own process, so receiving mail does not share a CPU lock with the probe."""

    def __init__(self, work: Path, port: int) -> None:
        script = work / "smtp_server.py"
        script.write_text(SMTP_SERVER)
        self.received = 0
        super().__init__(script, {"tests": str(ROOT / "tests"), "port": port}, "SMTP server")

    def on_line(self, kind: str, rest: str) -> None:
        if kind == "received":
            self.received = int(rest)


def storm(work: Path, url: str, config: Path, seeded: dict, args, port: int) -> dict:
    """Run the storm while timing the health endpoint; return the storm processes' figures and timings."""
    script = work / "storm.py"
    script.write_text(STORM)
    spec = {"url": url, "config": str(config), "events": args.events, "storm_s": args.storm_s,
            "procs": args.storm_procs, "nice": args.storm_nice, **seeded}
    procs = [ScriptProcess(script, {**spec, "part": i}, "storm process") for i in range(args.storm_procs)]
    started = time.monotonic()
    for p in procs:
        p.proc.stdin.write("go\n")
        p.proc.stdin.flush()
    spent = probe(port, lambda: all(p.final for p in procs) or any(p.proc.poll() is not None for p in procs))
    storm_s = time.monotonic() - started
    finals = [p.stop() for p in procs]
    if any(not f for f in finals) or sum(f["events"] for f in finals) != args.events:
        raise SystemExit(f"a storm process failed: {finals}")
    return {"started": started, "storm_s": round(storm_s, 3), "spent": spent, "load_after": load_average(),
            "late_over_1s": sum(f["late_over_1s"] for f in finals)}


def run_backend(backend: str, args) -> dict:
    """Run baseline, storm and drain on one backend; return its figures."""
    with tempfile.TemporaryDirectory(prefix=f"wardlink-storm-{backend}-") as tmp:
        work = Path(tmp)
        server = None
        if backend == "postgresql":
            from servers import PostgresServer

            server = PostgresServer(work / "pg")
            server.start()
            server.create_database("storm")
            url = server.sqlalchemy_url("storm")
        else:
            url = f"sqlite:///{work / 'storm.db'}"
        try:
            return measure(work, url, args)
        finally:
            if server is not None:
                server.stop()


def measure(work: Path, url: str, args) -> dict:
    """Seed, start the hub and the SMTP server, then time baseline, storm and drain."""
    seeded = fill(url, args.techs, args.orders)
    smtp_port, web_port = free_port(), free_port()
    smtp = SmtpServer(work, smtp_port)
    config = write_config(work, url, smtp_port, args.rate)
    hub = start_hub(config, web_port, work, args.scheduler_nice)
    engine = open_engine(url)
    try:
        probe(web_port, _after(2.0))  # warm up
        load_before = load_average()
        baseline = probe(web_port, _after(args.baseline_s))
        print(f"  baseline: {figures(baseline)}", flush=True)
        if args.hold_sender:
            hub[1].send_signal(signal.SIGSTOP)  # the scheduler, with the mailer: queue only
        run = storm(work, url, config, seeded, args, web_port)
        print(f"  storm of {args.events} events in {run['storm_s']} s: {figures(run['spent'])}", flush=True)
        if args.hold_sender:
            hub[1].send_signal(signal.SIGCONT)
        drained = Drained(engine, args.drain_timeout_s)
        draining = probe(web_port, drained.is_set)
        drained.stop()
        counts = outbox(engine)
        drained_s = drained.at - run["started"]
        while smtp.received < counts["sent"] and not drained.late():
            time.sleep(0.05)
    finally:
        stop(hub)
        engine.dispose()
        received = smtp.stop()
    rows = sum(counts.values())
    ok = (rows == args.events and counts["sent"] == rows and received.get("received") == rows
          and received.get("distinct_rows") == rows)
    base, during = figures(baseline), figures(run["spent"])
    return {"outbox_rows": rows, "sent": counts["sent"], "failed": counts["failed"], "pending": counts["pending"],
            "smtp_received": received.get("received"), "smtp_distinct_rows": received.get("distinct_rows"),
            "sender_held_during_storm": args.hold_sender,
            "storm_s": run["storm_s"], "events_late_over_1s": run["late_over_1s"],
            "drain_s_from_storm_start": round(drained_s, 1),
            "drain_s_after_storm": round(drained_s - run["storm_s"], 1),
            "sent_per_s_from_storm_start": round(rows / drained_s, 1),
            "sent_per_s_after_storm": round(rows / max(drained_s - run["storm_s"], 0.001), 1)
            if args.hold_sender else None,
            "baseline_health": base, "storm_health": during,
            "drain_health": figures(draining) if draining else None,
            "p95_ratio": round(during["p95_ms"] / base["p95_ms"], 2),
            "drain_p95_ratio": round(figures(draining)["p95_ms"] / base["p95_ms"], 2) if draining else None,
            "load_before": load_before, "load_at_storm_end": run["load_after"], "ok": ok}


class Drained(threading.Event):
    """Set once no e-mail is pending (the outbox looked at every 0.2 s in a thread), or at the timeout."""

    def __init__(self, engine, timeout_s: float) -> None:
        super().__init__()
        self._deadline = time.monotonic() + timeout_s
        self.at = 0.0
        self._engine = engine
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def late(self) -> bool:
        """Return True after the timeout."""
        return time.monotonic() > self._deadline

    def _watch(self) -> None:
        while outbox(self._engine)["pending"] and not self.late():
            time.sleep(0.2)
        self.at = time.monotonic()
        self.set()

    def stop(self) -> None:
        """Wait for the watching thread."""
        self._thread.join(30)


def _after(seconds: float):
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--storm-s", type=float, default=60.0)
    parser.add_argument("--storm-procs", type=int, choices=(1, 2), default=2)
    parser.add_argument("--baseline-s", type=float, default=30.0)
    parser.add_argument("--techs", type=int, default=50)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--drain-timeout-s", type=float, default=900.0)
    parser.add_argument("--rate", type=int, default=None,
                        help="the hub's notice_email_rate, e-mails a second at most (0: no limit); "
                             "default: the hub's default")
    parser.add_argument("--hold-sender", action="store_true",
                        help="pause the process holding the mailer during the storm, so the storm's and the "
                             "sending's costs to the web are timed apart")
    parser.add_argument("--storm-nice", type=int, default=None,
                        help="niceness of the storm processes; default: the scheduler unit's Nice=, as the "
                             "scheduler's jobs make such storms (0: as a person's requests would)")
    parser.add_argument("--scheduler-nice", type=int, default=None,
                        help="niceness of the scheduler process; default: the scheduler unit's Nice=")
    args = parser.parse_args(argv)
    shipped = unit_nice("wardlink-scheduler.service")
    args.storm_nice = shipped if args.storm_nice is None else args.storm_nice
    args.scheduler_nice = shipped if args.scheduler_nice is None else args.scheduler_nice
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    rate = args.rate if args.rate is not None else HubConfig().notice_email_rate
    result: dict = {"benchmark": "notify_storm", "events": args.events, "storm_s": args.storm_s,
                    "hold_sender": args.hold_sender, "notice_email_rate": rate,
                    "storm_procs": args.storm_procs, "storm_nice": args.storm_nice,
                    "scheduler_nice": args.scheduler_nice, "cpus": os.cpu_count()}
    for backend in backends:
        print(f"{backend}:", flush=True)
        result[backend] = run_backend(backend, args)
    result["ok"] = all(result[b]["ok"] for b in backends)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
