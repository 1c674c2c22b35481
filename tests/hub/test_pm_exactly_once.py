"""PM work orders are generated exactly once on PostgreSQL: with two schedulers running side
by side (one leads, the other stands by and takes over), with two generators racing under
the generator's lock, and even with the lock skipped, where the unique constraint decides."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from pm_support import at, pm_pg_template, pm_pg_url
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from wardlink.hub.db import make_session, open_engine, session_scope
from wardlink.hub.db.models import PmOccurrence, WorkOrder
from wardlink.hub.scheduler import AdvisoryLeader, Scheduler
from wardlink.hub.services.maintenance import pm
from wardlink.hub.services.maintenance import pm_generator
from wardlink.clock import ManualClock

pytestmark = pytest.mark.timeout(120)


def _plans(engine, clock):
    with session_scope(engine) as s:
        # Weekly, no lead: due 2026-01-01, 01-08, ... (window +-1 day).
        pm.create_plan(s, {"name": "Ventilator weekly check", "asset_tag": "VENT-0001", "trigger": "calendar",
                           "interval_count": 1, "interval_unit": "week", "anchor_date": "2025-12-25",
                           "lead_days": 0}, actor=None, clock=clock)
        # Monthly, 14 days ahead: due 01-15, 02-15, 03-15 (generated 01-01, 02-01, 03-01).
        pm.create_plan(s, {"name": "Defibrillator monthly", "asset_tag": "DEF-0001", "trigger": "calendar",
                           "interval_count": 1, "interval_unit": "month", "anchor_date": "2025-12-15",
                           "lead_days": 14}, actor=None, clock=clock)
        # Both Infusomat pumps, yearly: due 2026-01-20, generated 30 days ahead.
        pm.create_plan(s, {"name": "Infusomat annual", "make": "B. Braun", "model": "Infusomat Space",
                           "trigger": "calendar", "interval_count": 1, "interval_unit": "year",
                           "anchor_date": "2025-01-20", "lead_days": 30}, actor=None, clock=clock)


def _counts(engine):
    with session_scope(engine, readonly=True) as s:
        services = s.execute(select(PmOccurrence.plan_id, PmOccurrence.asset_id, PmOccurrence.due_date)).all()
        orders = s.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.kind == "pm"))
    return services, orders


def test_two_schedulers_generate_every_service_exactly_once_and_hand_over(pm_pg_url):
    clock = ManualClock(at(2026, 1, 1))
    engines = [open_engine(pm_pg_url) for _ in range(3)]
    _plans(engines[2], clock)
    schedulers = [Scheduler(engines[i], clock=clock, leader=AdvisoryLeader(engines[i], holder=name))
                  for i, name in enumerate(("north", "south"))]
    leaders: list[tuple[str, ...]] = []
    running = list(schedulers)
    try:
        for day in range(40):  # 2026-01-02 .. 2026-02-10
            clock.advance(86_400)
            if day == 20:  # the leader stops cleanly; the standby takes over at once
                stopping = next(s for s in schedulers if s.is_leader)
                stopping.close()
                running = [s for s in running if s is not stopping]
            start = threading.Barrier(len(running))
            reports = {}

            def round_(sched):
                start.wait()
                reports[sched.holder] = sched.run_once()

            threads = [threading.Thread(target=round_, args=(s,)) for s in running]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not [r.failed for r in reports.values() if r.failed]
            leaders.append(tuple(sorted(h for h, r in reports.items() if r.leader)))
    finally:
        for sched in schedulers:
            sched.close()
    services, orders = _counts(engines[2])
    for engine in engines:
        engine.dispose()
    # Weekly: 01-01 .. 02-05 = 6; monthly: 01-15 and 02-15 = 2; annual: 2 pumps.
    assert len(services) == orders == 6 + 2 + 2
    assert not [key for key, n in Counter(services).items() if n > 1]
    assert all(len(names) == 1 for names in leaders), leaders  # one leader in every round
    assert leaders[0] != leaders[-1]  # the standby took over when the leader stopped


def _wait_for_blocked_backend(engine, deadline_s: float = 15.0) -> None:
    """Wait until some session of this database waits on a lock held by another."""
    deadline = time.monotonic() + deadline_s
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
            if waiting:
                return
            conn.rollback()
            time.sleep(0.02)
    raise AssertionError("the second generator never waited for the first")


@pytest.mark.parametrize("lock", [True, False], ids=["with-lock", "constraint-only"])
def test_a_generator_racing_an_uncommitted_one_creates_nothing_twice(pm_pg_url, lock):
    clock = ManualClock(at(2026, 1, 2))
    first_engine, second_engine, probe = (open_engine(pm_pg_url) for _ in range(3))
    _plans(probe, clock)
    first = make_session(first_engine)
    outcome = {}
    try:
        first.begin()
        mine = pm_generator.generate_due(first, clock=clock, lock=lock)  # flushed, not committed
        assert mine.created == 1 + 1 + 2

        def other():
            with session_scope(second_engine) as s:
                outcome["report"] = pm_generator.generate_due(s, clock=clock, lock=lock)

        racer = threading.Thread(target=other)
        racer.start()
        if not lock:
            _wait_for_blocked_backend(probe)  # its insert waits on the unique index
        else:
            racer.join(15)  # the lock is taken: it gives up at once
        first.commit()
        racer.join(15)
        assert not racer.is_alive()
    finally:
        first.close()
    theirs = outcome["report"]
    if lock:
        assert (theirs.locked, theirs.created) == (False, 0)
    else:
        assert (theirs.locked, theirs.created, theirs.raced) == (True, 0, 1)
    services, orders = _counts(probe)
    assert len(services) == orders == 4 and len(set(services)) == 4
    for engine in (first_engine, second_engine, probe):
        engine.dispose()


def test_the_database_itself_refuses_a_second_row_for_a_service(pm_pg_url):
    clock = ManualClock(at(2026, 1, 2))
    engine = open_engine(pm_pg_url)
    _plans(engine, clock)
    with session_scope(engine) as s:
        pm_generator.generate_due(s, clock=clock)
    # Same sequence number on another date, then the same date under another number.
    for changes, key in (({"due_date": None}, "seq"), ({"seq": 99}, "due_date")):
        with pytest.raises(IntegrityError, match=f"uq_pm_occurrences_plan_id_asset_id_{key}"), \
                session_scope(engine) as s:
            occ = s.scalars(select(PmOccurrence).order_by(PmOccurrence.id)).first()
            fields = ("plan_id", "asset_id", "seq", "due_date", "window_days", "high_risk", "state",
                      "generated_at")
            s.add(PmOccurrence(**{**{c: getattr(occ, c) for c in fields}, **changes}))
            s.flush()
    engine.dispose()
