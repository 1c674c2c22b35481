"""Usage reminders on an injected clock: a rental due back is announced 7 days before, on the day and
once overdue; a session past its category's maximum continuous use once; equipment idle for 30
days once per idle spell; the scheduler's job run every six hours for 40 days gives each exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import date

from relational_support import actor, clock, engine
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Notice, UsageSession
from wardlink.hub.scheduler.jobs import JobContext, usage_reminders
from wardlink.hub.services.usage import knowledge, rentals, reminders, sessions


def test_the_rental_stages():
    due = date(2026, 1, 20)
    assert [reminders.rental_stage(date(2026, 1, d), due) for d in (12, 13, 19, 20, 21, 25)] == \
        [None, "before", "before", "today", "overdue", "overdue"]


def test_each_reminder_fires_exactly_once_over_forty_days(engine, clock):
    with session_scope(engine) as session:
        knowledge.create_entry(session, {"category": "Infusion pump", "max_use_hours": "12"}, actor=None,
                               clock=clock)
        rental = rentals.register(session, {"asset_tag": "IP-0102", "vendor": "MedEquip", "contract_ref": "ME-7",
                                            "starts_on": "2026-01-01", "expected_return_on": "2026-01-20",
                                            "inspection_required": False}, actor=actor(session, "manager"),
                                  clock=clock).id
        used = sessions.start(session, "IP-0101", reason="Bed 4", actor=actor(session, "nurse"), clock=clock).id
    announced: list[str] = []
    for step in range(40 * 4):
        clock.advance(6 * 3600)
        if step == 8:  # two days in: the pump is put away
            with session_scope(engine) as session:
                sessions.end(session, used, actor=actor(session, "nurse"), clock=clock)
        announced += usage_reminders(JobContext(engine=engine, clock=clock))["keys"]
    with session_scope(engine) as session:
        row = session.get(UsageSession, used)
        idle = f"usage:{row.asset_id}:idle:{row.ended_at.date().isoformat()}"
        expected = [f"usage:{used}:overuse", *(f"rental:{rental}:due:{stage}:2026-01-20"
                                               for stage in ("before", "today", "overdue")), idle]
        told = Counter(session.scalars(select(Notice.key).where(Notice.key.in_(expected))))
        subjects = set(session.scalars(select(Notice.subject).where(Notice.key.in_(expected))))
    assert Counter(announced) == Counter(expected), "each reminder once"
    assert set(told) == set(expected) and all(n >= 1 for n in told.values())
    assert any("IP-0102 is overdue back to MedEquip" in s for s in subjects), subjects
