"""Usage sessions, the knowledge shown before use, training records and rentals: a scanned
start makes the asset in use and its end available or waiting for cleaning; maintenance, a
tag-out or an overdue life-support service holds a start unless a manager overrides it with a
reason (audited); a training-required device is refused for an untrained person under the block
policy and marked under warn; a rental is blocked until its incoming inspection passes; the
encounter reference is kept only as a keyed hash."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from relational_support import actor, clock, engine, session
from sqlalchemy import select

from wardlink.hub.db.models import Asset, AuditLog, Department, UsageSession
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.usage import knowledge, procedure, rentals, sessions, training
from wardlink.hub.services.usage.sessions import UsagePolicy, UsageRefused

KEY = UsagePolicy(training="warn", encounter_key=b"site key kept outside the database")
BLOCK = UsagePolicy(training="block")


def _knowledge(session, clock, **fields):
    base = {"category": "Infusion pump", "procedure": "# Before use\n\n1. Check the line.\n<script>x()</script>",
            "critical_warning": "Check the drug library before every infusion.", "training_required": False}
    return knowledge.create_entry(session, {**base, **fields}, actor=None, clock=clock)


def _ids(session, code):
    return session.scalar(select(Department.id).where(Department.code == code))


def test_a_scanned_session_makes_the_asset_in_use_and_its_end_available(session, clock):
    _knowledge(session, clock)
    nurse = actor(session, "nurse")
    row = sessions.start(session, "IP-0101", reason="Bed 4 infusion", actor=nurse, clock=clock)
    assert row.source == "scanned" and row.department_id == nurse.department_id
    assert sessions.status_of(session, row.asset_id) == "in_use"
    with pytest.raises(UsageRefused, match="IP-0101 cannot be started: IP-0101 is in_use"):
        sessions.start(session, "IP-0101", actor=nurse, clock=clock)
    clock.advance(3600)
    sessions.end(session, row.id, actor=nurse, clock=clock)
    assert sessions.status_of(session, row.asset_id) == "available"
    assert (row.ended_at - row.started_at).total_seconds() == 3600
    actions = session.scalars(select(AuditLog.action).where(AuditLog.action.like("usage.%")).order_by(AuditLog.id)).all()
    assert actions == ["usage.start", "usage.end"]


def test_the_category_says_what_the_end_leaves_and_a_model_overrides_it(session, clock):
    _knowledge(session, clock, return_status="needs_cleaning", max_use_hours="12")
    knowledge.create_entry(session, {"category": "infusion  PUMP", "make": "B. Braun", "model": "Infusomat Space",
                                     "critical_warning": "Space pumps: use the Space line only."}, actor=None,
                           clock=clock)
    asset = session.scalar(select(Asset).where(Asset.tag == "IP-0101"))
    found = knowledge.for_asset(session, asset)
    assert found.critical_warning == "Space pumps: use the Space line only."
    assert found.procedure.startswith("# Before use") and found.max_use_hours == Decimal("12")
    row = sessions.start(session, "IP-0101", actor=actor(session, "nurse"), clock=clock)
    sessions.end(session, row.id, actor=actor(session, "nurse"), clock=clock)
    assert sessions.status_of(session, asset.id) == "needs_cleaning"
    with pytest.raises(UsageRefused, match="is needs_cleaning"):
        sessions.start(session, "IP-0101", actor=actor(session, "nurse"), clock=clock)
    sessions.mark_ready(session, "IP-0101", actor=actor(session, "nurse"), clock=clock)
    assert sessions.status_of(session, asset.id) == "available"


def test_procedures_are_rendered_without_raw_html_and_found_by_search(session, clock):
    entry = _knowledge(session, clock, procedure="Check the [line](javascript:alert(1)).\n\n<b>bold</b>")
    html = procedure.render(entry.procedure)
    assert "<b>" not in html and "&lt;b&gt;" in html and 'href="javascript' not in html
    assert [e.id for e in knowledge.search(session, "drug LIBRARY", actor=None)] == [entry.id]
    assert knowledge.search(session, "ventilator", actor=None) == []


def test_maintenance_holds_a_start_unless_a_manager_overrides_it_with_a_reason(session, clock):
    session.scalar(select(Asset).where(Asset.tag == "IP-0101")).equipment_status = "faulty"
    with pytest.raises(UsageRefused, match="IP-0101 is in maintenance") as refused:
        sessions.start(session, "IP-0101", actor=actor(session, "nurse"), clock=clock)
    assert refused.value.readiness.overridable
    with pytest.raises(PermissionDenied, match="may not start equipment use despite"):
        sessions.start(session, "IP-0101", override_reason="No other pump", actor=actor(session, "nurse"),
                       clock=clock)
    row = sessions.start(session, "IP-0101", override_reason="No other pump on the ward",
                         actor=actor(session, "manager"), department_id=_ids(session, "ICU"), clock=clock)
    assert row.override_reason == "No other pump on the ward" and row.override_by == "manager"
    audit = session.scalar(select(AuditLog).where(AuditLog.action == "usage.override"))
    assert json.loads(audit.after_json)["reason"] == "No other pump on the ward"


def test_overdue_life_support_equipment_is_held_as_pm_standing_judges_it(session, clock):
    # Without a plan, pm_standing keeps the status recorded by hand: overdue holds life support only.
    vent, monitor = (session.scalar(select(Asset).where(Asset.tag == tag)) for tag in ("VENT-0001", "PM-0001"))
    assert sessions.readiness(session, vent, user_id=None, policy=KEY, clock=clock).ready
    vent.maintenance_status = "overdue"
    found = sessions.readiness(session, vent, user_id=None, policy=KEY, clock=clock)
    assert [str(m) for m in found.holds] == ["VENT-0001 is life-support equipment overdue for planned maintenance"]
    assert monitor.maintenance_status == "overdue" and not monitor.life_support
    assert sessions.readiness(session, monitor, user_id=None, policy=KEY, clock=clock).ready


def test_a_training_required_device_is_refused_for_an_untrained_person_under_block(session, clock):
    _knowledge(session, clock, training_required=True)
    nurse = actor(session, "nurse")
    with pytest.raises(UsageRefused, match="training on Infusion pump is required") as refused:
        sessions.start(session, "IP-0101", policy=BLOCK, actor=nurse, clock=clock)
    assert not refused.value.readiness.overridable
    warned = sessions.start(session, "IP-0101", policy=KEY, actor=nurse, clock=clock)
    assert warned.untrained
    sessions.end(session, warned.id, actor=nurse, clock=clock)
    training.record(session, {"user_id": nurse.user_id, "category": "infusion pump", "trained_on": "2025-06-01",
                              "expires_on": "2026-05-31"}, today=date(2026, 1, 1), actor=None, clock=clock)
    trained = sessions.start(session, "IP-0101", policy=BLOCK, actor=nurse, clock=clock)
    assert not trained.untrained


def test_an_expired_training_record_does_not_count(session, clock):
    _knowledge(session, clock, training_required=True)
    nurse = actor(session, "nurse")
    training.record(session, {"user_id": nurse.user_id, "category": "Infusion pump", "trained_on": "2024-01-01",
                              "expires_on": "2025-12-31"}, today=date(2026, 1, 1), actor=None, clock=clock)
    with pytest.raises(UsageRefused, match="training"):
        sessions.start(session, "IP-0101", policy=BLOCK, actor=nurse, clock=clock)


def test_a_rental_is_blocked_until_its_incoming_inspection_passes(session, clock):
    rental = rentals.register(session, {"asset_tag": "IP-0101", "vendor": "MedEquip", "contract_ref": "ME-7",
                                        "starts_on": "2026-01-01", "expected_return_on": "2026-01-31",
                                        "rate_per_day": "12.50", "rate_per_use": "3"},
                              actor=actor(session, "manager"), clock=clock)
    assert rental.inspection_work_order_id is not None
    nurse = actor(session, "nurse")
    with pytest.raises(UsageRefused, match="has not passed its incoming inspection"):
        sessions.start(session, "IP-0101", actor=nurse, clock=clock)
    order_id = rental.inspection_work_order_id
    tech = actor(session, "tech")
    workorders.transition(session, order_id, "assigned", {"assignee_id": tech.user_id}, actor=None, clock=clock)
    workorders.transition(session, order_id, "in_progress", {}, actor=tech, clock=clock)
    workorders.transition(session, order_id, "completed", {"resolution_category": "accepted"}, actor=tech,
                          clock=clock)
    row = sessions.start(session, "IP-0101", actor=nurse, clock=clock)
    sessions.end(session, row.id, actor=nurse, clock=clock)
    cost = rentals.cost_to_date(session, rental, date(2026, 1, 10))
    assert (cost.days, cost.uses, cost.amount) == (10, 1, Decimal("128.00"))
    rentals.start_return(session, rental.id, note="Contract ends", actor=actor(session, "manager"), clock=clock)
    with pytest.raises(UsageRefused, match="is returning to MedEquip"):
        sessions.start(session, "IP-0101", actor=nurse, clock=clock)
    rentals.complete_return(session, rental.id, actor=actor(session, "manager"), clock=clock)
    assert rental.state == "returned" and rental.returned_on == date(2026, 1, 1)


def test_a_transfer_ends_the_session_and_opens_the_next_in_the_other_department(session, clock):
    row = sessions.start(session, "IP-0101", actor=actor(session, "manager"), department_id=_ids(session, "ICU"),
                         clock=clock)
    nxt = sessions.transfer(session, row.id, department_id=_ids(session, "ED"), actor=actor(session, "manager"),
                            clock=clock)
    assert row.ended_at == nxt.started_at and nxt.transferred_from_id == row.id
    assert sessions.status_of(session, row.asset_id) == "in_use"
    assert [s.id for s in sessions.list_sessions(session, actor=None, open_only=True)] == [nxt.id]


def test_the_encounter_reference_is_kept_only_as_a_keyed_hash(session, clock):
    row = sessions.start(session, "IP-0101", encounter="ENC-2026-0042", policy=KEY, actor=actor(session, "nurse"),
                         clock=clock)
    stored = session.scalar(select(UsageSession.encounter_hash).where(UsageSession.id == row.id))
    assert len(stored) == 64 and "ENC" not in stored
    found = sessions.find_by_encounter(session, " enc-2026-0042 ", policy=KEY, actor=None)
    assert [s.id for s in found] == [row.id]
    other = UsagePolicy(encounter_key=b"another site")
    assert sessions.find_by_encounter(session, "ENC-2026-0042", policy=other, actor=None) == []
    with pytest.raises(InvalidInput, match="no encounter key is set"):
        sessions.start(session, "IP-0101", encounter="ENC-1", actor=actor(session, "nurse"), clock=clock)
