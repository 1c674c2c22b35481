"""What one notice event costs: CPU and statements per event of the storm's mix, in one process.

The storm of ``bench/notify_storm.py`` is limited by how much it costs to *make* the events, not
to send them. This measures that cost alone, without the web server, the mailer or a second
storm process competing: the same store (migrated and seeded by ``notify_storm.fill``: the demo
site, 50 technicians with e-mail addresses, 100 open work orders), the same events (one in ten
``workorders.reassign``, the rest ``notices.announce`` of ``low_stock`` to one technician, each
queueing one e-mail), each in a transaction of its own, one after the other as fast as they go.

Reported per event: the CPU of this process (``time.process_time``; also for announce and
reassign events apart, each a transaction from its start to its commit), on PostgreSQL also the CPU of
the server process serving its connection (``/proc/PID/stat``), the wall time, and the SQL
statements sent (counted in a separate pass, so counting costs nothing in the timed one). With
``--profile`` the timed pass runs under cProfile and the 30 functions of most cumulative time go
to stderr (the CPU figure then includes the profiler's overhead).

    python bench/announce_cpu.py [--backend sqlite|postgresql|both] [--events 2000] [--profile]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import _support  # noqa: F401  (puts the repository and tests/ on sys.path)
from _support import load_average
from notify_storm import fill
from sqlalchemy import event, func, select, text

from wardlink.clock import SystemClock
from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.db.models import NoticeEmail, User
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.notices import core as notices

TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_s(pids: set[int]) -> float:
    """Return the CPU seconds (user + system) the processes ``pids`` used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICKS


class Events:
    """The storm's events, numbered from 0: the same mix and targets as ``notify_storm``'s."""

    def __init__(self, engine, seeded: dict) -> None:
        self.engine = engine
        self.techs, self.orders = seeded["techs"], seeded["orders"]
        self.clock = SystemClock()
        with session_scope(engine) as s:
            self.admin = Actor.for_user(s.get(User, seeded["admin"]), "192.0.2.50")
        self.backends: set[int] = set()

    def run(self, n: int) -> None:
        """Make event ``n`` in a transaction of its own."""
        with session_scope(self.engine) as s:
            if self.engine.dialect.name == "postgresql":
                self.backends.add(s.scalar(text("SELECT pg_backend_pid()")))
            if n % 10 == 0:
                turn = n // 10
                order, round_ = self.orders[turn % len(self.orders)], turn // len(self.orders)
                workorders.reassign(s, order, self.techs[(turn + round_) % len(self.techs)], actor=self.admin,
                                    clock=self.clock)
            else:
                notices.announce(s, "low_stock", subject=f"Storm event {n}: gloves below minimum",
                                 body="Order more.\n", link="/stock", key=f"storm:{n}", clock=self.clock,
                                 users=(self.techs[n % len(self.techs)],))


def measure(url: str, args) -> dict:
    """Seed the store at ``url``, then time ``args.events`` events after ``args.warmup``."""
    seeded = fill(url, args.techs, args.orders)
    engine = open_engine(url)
    try:
        events = Events(engine, seeded)
        for n in range(args.warmup):
            events.run(n)
        first = args.warmup
        local = server_cpu_s(events.backends) if events.backends else 0.0
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        spent = {"announce": 0.0, "reassign": 0.0}
        for n in range(first, first + args.events):
            begin = time.process_time()
            events.run(n)
            spent["reassign" if n % 10 == 0 else "announce"] += time.process_time() - begin
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        server = server_cpu_s(events.backends) - local if events.backends else None
        if profiler is not None:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            print(out.getvalue(), file=sys.stderr)
        statements = count_statements(engine, events, first + args.events, args.count_events)
        with session_scope(engine, readonly=True) as s:
            emails = s.scalar(select(func.count()).select_from(NoticeEmail))
    finally:
        engine.dispose()
    total = args.warmup + args.events + args.count_events
    per = 1000 / args.events
    reassigns = len(range(first + (-first) % 10, first + args.events, 10))
    return {"events": args.events, "cpu_ms_per_event": round(cpu * per, 3),
            "cpu_ms_per_announce": round(spent["announce"] * 1000 / (args.events - reassigns), 3),
            "cpu_ms_per_reassign": round(spent["reassign"] * 1000 / reassigns, 3) if reassigns else None,
            "server_cpu_ms_per_event": round(server * per, 3) if server is not None else None,
            "wall_ms_per_event": round(wall * per, 3), "events_per_s": round(args.events / wall, 1),
            "statements_per_event": statements, "emails_queued": emails, "emails_expected": total,
            "profiled": args.profile, "ok": emails == total}


def count_statements(engine, events: Events, first: int, count: int) -> dict:
    """Return the SQL statements per event (announce and reassign apart) over ``count`` events."""
    seen = {"announce": 0, "reassign": 0}
    kind = ["announce"]

    def counted(*_args) -> None:
        seen[kind[0]] += 1

    event.listen(engine, "before_cursor_execute", counted)
    try:
        for n in range(first, first + count):
            kind[0] = "reassign" if n % 10 == 0 else "announce"
            events.run(n)
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    reassigns = len([n for n in range(first, first + count) if n % 10 == 0])
    pg = 1 if engine.dialect.name == "postgresql" else 0  # the pg_backend_pid() query of the harness
    return {"announce": round(seen["announce"] / (count - reassigns) - pg, 2),
            "reassign": round(seen["reassign"] / reassigns - pg, 2) if reassigns else None}


def run_backend(backend: str, args) -> dict:
    """Measure on a fresh store of ``backend``."""
    with tempfile.TemporaryDirectory(prefix=f"wardlink-announce-{backend}-") as tmp:
        work = Path(tmp)
        if backend == "sqlite":
            return measure(f"sqlite:///{work / 'announce.db'}", args)
        from servers import PostgresServer

        server = PostgresServer(work / "pg")
        server.start()
        try:
            server.create_database("announce")
            return measure(server.sqlalchemy_url("announce"), args)
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--count-events", type=int, default=100)
    parser.add_argument("--techs", type=int, default=50)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="profile the timed pass (cProfile, to stderr)")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    result: dict = {"benchmark": "announce_cpu", "cpus": os.cpu_count(), "load_before": load_average()}
    for backend in backends:
        print(f"{backend}:", flush=True)
        result[backend] = run_backend(backend, args)
        print(f"  {result[backend]}", flush=True)
    result["ok"] = all(result[b]["ok"] for b in backends)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
