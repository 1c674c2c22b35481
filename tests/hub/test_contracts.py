"""Service contracts and warranties on SQLite and PostgreSQL: the register, who sees and changes
what, the expiry warnings (90 and 30 days ahead, each exactly once, through the notice outbox and
a real SMTP server) and the contract a work order on a covered asset falls under.

The seeded hospital's site is in Europe/London; the clock starts at 2026-01-01 01:00 UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from relational_support import actor, clock, engine, session
from sqlalchemy import func, select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, ContractWarning, Notice, NoticeEmail, User
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.notify.notices import NoticeMailer
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.scheduler import JOBS, Scheduler
from wardlink.hub.services.contracts import cover, expiry
from wardlink.hub.services.contracts import register as contracts
from wardlink.hub.services.inventory import suppliers
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users

EXPIRY_ONLY = [j for j in JOBS if j.name == "contract_expiry"]


def _contract(**changes) -> dict:
    return {"reference": "SC-2026-001", "title": "Ventilator full service", "vendor_name": "Hamilton Medical UK",
            "vendor_contact": "0800 123 456", "covers_parts": True, "covers_labour": True, "covers_pm": False,
            "starts_on": "2025-06-01", "ends_on": "2026-05-31", "cost": "4800.00", "response_hours": 4,
            "asset_tags": ["VENT-0001"], **changes}


def _set_clock(clock, moment: datetime) -> None:
    clock.advance(moment.timestamp() - clock.now())


def _audit(session, action: str) -> list[dict]:
    return [json.loads(r.after_json) for r in session.scalars(
        select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.seq))]


def test_a_manager_adds_a_contract_and_references_are_unique_without_case(session, clock):
    manager = actor(session, "manager")
    made = contracts.create_contract(session, _contract(), actor=manager, clock=clock)
    assert [a.tag for a in made.assets] == ["VENT-0001"]
    assert contracts.coverage_text(made) == "parts, labour"
    [after] = _audit(session, "contract.create")
    assert after["asset_tags"] == ["VENT-0001"] and after["cost"] == "4800.00" and after["response_hours"] == 4
    with pytest.raises(InvalidInput, match="reference: 'sc-2026-001' is already used by another contract"):
        contracts.create_contract(session, _contract(reference="sc-2026-001"), actor=manager, clock=clock)
    with pytest.raises(InvalidInput, match=r"ends_on: must not be before starts_on \(2026-06-01\)"):
        contracts.create_contract(session, _contract(reference="X-1", starts_on="2026-06-01"), actor=manager,
                                  clock=clock)
    with pytest.raises(InvalidInput, match="asset_tags: no asset 'NOPE-1'"):
        contracts.create_contract(session, _contract(reference="X-2", asset_tags=["NOPE-1"]), actor=manager,
                                  clock=clock)
    with pytest.raises(InvalidInput, match="response_hours: must be a whole number 1..8760, got 0"):
        contracts.create_contract(session, _contract(reference="X-3", response_hours=0), actor=manager, clock=clock)
    with pytest.raises(InvalidInput, match="starts_on: is required"):
        contracts.create_contract(session, _contract(reference="X-4", starts_on=""), actor=manager, clock=clock)


def test_a_contract_with_a_listed_supplier_takes_its_name_unless_another_is_given(session, clock):
    buyer = actor(session, "buyer")
    supplier = suppliers.create_supplier(session, {"name": "MedTech Services Ltd", "phone": "0161 555 0199"},
                                         actor=buyer, clock=clock)
    made = contracts.create_contract(session, _contract(vendor_name="", supplier_id=supplier.id), actor=buyer,
                                     clock=clock)
    assert (made.supplier_id, made.vendor_name) == (supplier.id, "MedTech Services Ltd")
    named = contracts.create_contract(session, _contract(reference="SC-2", vendor_name="MedTech North",
                                                         supplier_id=str(supplier.id)), actor=buyer, clock=clock)
    assert named.vendor_name == "MedTech North"
    with pytest.raises(InvalidInput, match="supplier_id: no supplier 999"):
        contracts.create_contract(session, _contract(reference="SC-3", supplier_id=999), actor=buyer, clock=clock)
    with pytest.raises(InvalidInput, match=r"vendor_name: is required \(or choose a listed supplier\)"):
        contracts.create_contract(session, _contract(reference="SC-4", vendor_name=" "), actor=buyer, clock=clock)
    suppliers.delete_supplier(session, supplier.id, actor=buyer, clock=clock)
    session.expire_all()
    assert (made.supplier_id, made.vendor_name) == (None, "MedTech Services Ltd")  # the name stays


def test_a_change_is_audited_with_only_what_changed_and_the_assets_can_be_replaced(session, clock):
    buyer = actor(session, "buyer")
    made = contracts.create_contract(session, _contract(), actor=buyer, clock=clock)
    contracts.update_contract(session, made.id, {"ends_on": "2027-05-31", "asset_tags": "VENT-0001, PM-0001"},
                              actor=buyer, clock=clock)
    assert [a.tag for a in made.assets] == ["PM-0001", "VENT-0001"]
    row = session.scalars(select(AuditLog).where(AuditLog.action == "contract.update")).one()
    assert json.loads(row.before_json) == {"ends_on": "2026-05-31", "asset_tags": ["VENT-0001"]}
    assert json.loads(row.after_json) == {"ends_on": "2027-05-31", "asset_tags": ["PM-0001", "VENT-0001"]}
    contracts.update_contract(session, made.id, {"title": made.title}, actor=buyer, clock=clock)
    assert session.scalar(select(func.count()).select_from(AuditLog)
                          .where(AuditLog.action == "contract.update")) == 1  # nothing changed, nothing audited


def test_the_list_says_where_each_term_stands_on_the_local_date(session, clock):
    manager = actor(session, "manager")
    for ref, start, end in (("ENDED", "2024-01-01", "2025-12-31"), ("SOON", "2025-01-01", "2026-03-31"),
                            ("LATER", "2025-01-01", "2027-12-31"), ("NEXT", "2026-02-01", "2027-01-31")):
        contracts.create_contract(session, _contract(reference=ref, starts_on=start, ends_on=end),
                                  actor=manager, clock=clock)
    refs = {s: [c.reference for c in contracts.list_contracts(session, actor=manager, clock=clock, state=s).items]
            for s in contracts.STATES}
    assert refs == {"active": ["SOON", "LATER"], "expiring": ["SOON"], "expired": ["ENDED"],
                    "upcoming": ["NEXT"], "all": ["ENDED", "SOON", "NEXT", "LATER"]}
    soon = contracts.list_contracts(session, actor=manager, clock=clock, q="soon").items[0]
    assert contracts.standing(soon, date(2026, 1, 1)) == contracts.Standing("expiring", 89)
    with pytest.raises(InvalidInput, match="state: must be one of active, expiring"):
        contracts.list_contracts(session, actor=manager, clock=clock, state="current")


def test_department_scope_limits_what_a_manager_sees_and_which_assets_they_may_list(session, clock):
    admin = actor(session, "admin")
    icu = contracts.create_contract(session, _contract(reference="ICU-1"), actor=admin, clock=clock)
    pharm = contracts.create_contract(session, _contract(reference="PH-1", asset_tags=["VF-0002"]), actor=admin,
                                      clock=clock)
    blank = contracts.create_contract(session, _contract(reference="NONE-1", asset_tags=[]), actor=admin,
                                      clock=clock)
    user, _ = users.create_user_with_generated_password(
        session, username="icu-lead", role="manager", display_name="ICU lead",
        department_id=icu.assets[0].department_id, actor=None, clock=clock)
    lead = actor(session, "icu-lead")
    seen = [c.reference for c in contracts.list_contracts(session, actor=lead, clock=clock).items]
    assert sorted(seen) == ["ICU-1", "NONE-1"]
    with pytest.raises(NotFound):
        contracts.get_contract(session, pharm.id, actor=lead)
    with pytest.raises(PermissionDenied, match="asset 'VF-0002' belongs to another department"):
        contracts.update_contract(session, blank.id, {"asset_tags": ["VF-0002"]}, actor=lead, clock=clock)
    with pytest.raises(PermissionDenied, match="may not view service contracts"):
        contracts.list_contracts(session, actor=actor(session, "nurse"), clock=clock)
    with pytest.raises(PermissionDenied, match="may not add or change service contracts"):
        contracts.create_contract(session, _contract(reference="T-1"), actor=actor(session, "tech"), clock=clock)


def test_a_work_order_on_a_covered_asset_falls_under_the_contract_in_force_the_day_it_was_opened(session, clock):
    manager = actor(session, "manager")
    slow = contracts.create_contract(session, _contract(reference="SLOW", response_hours=48), actor=manager,
                                     clock=clock)
    fast = contracts.create_contract(session, _contract(reference="FAST", response_hours=4), actor=manager,
                                     clock=clock)
    contracts.create_contract(session, _contract(reference="OLD", ends_on="2025-12-31"), actor=manager, clock=clock)
    order = workorders.create_work_order(session, {"kind": "corrective", "title": "Alarm fault",
                                                   "asset_tag": "VENT-0001"}, actor=manager, clock=clock)
    found = cover.for_work_order(session, order.id, actor=manager)
    assert [(c.contract.reference, c.respond_by) for c in found] == [
        ("FAST", datetime(2026, 1, 1, 5, 0, tzinfo=UTC)), ("SLOW", datetime(2026, 1, 3, 1, 0, tzinfo=UTC))]
    assert found[0].contract is fast and found[1].contract is slow
    other = workorders.create_work_order(session, {"kind": "corrective", "title": "Door seal",
                                                   "asset_tag": "VF-0001"}, actor=manager, clock=clock)
    assert cover.for_work_order(session, other.id, actor=manager) == []
    assert cover.shown_on_order(session, order, actor=actor(session, "nurse")) == []


def _warnings(session) -> list[tuple[str, int, int]]:
    return [(w.contract_id, w.threshold_days, w.told) for w in
            session.scalars(select(ContractWarning).order_by(ContractWarning.id))]


def test_each_warning_is_given_once_at_90_and_30_days_and_again_for_a_renewed_term(session, clock):
    manager = actor(session, "manager")
    made = contracts.create_contract(session, _contract(ends_on="2026-05-31"), actor=manager, clock=clock)
    _set_clock(clock, datetime(2026, 3, 1, 23, 30, tzinfo=UTC))  # 91 days left in London
    assert expiry.warn_expiring(session, clock=clock) == []
    _set_clock(clock, datetime(2026, 3, 2, 0, 30, tzinfo=UTC))  # 90 days left
    [warned] = expiry.warn_expiring(session, clock=clock)
    assert (warned.threshold_days, warned.days_left) == (90, 90)
    assert expiry.warn_expiring(session, clock=clock) == []  # again at once: nothing new
    _set_clock(clock, datetime(2026, 4, 30, 22, 59, tzinfo=UTC))  # 31 days left (London is on BST)
    assert expiry.warn_expiring(session, clock=clock) == []
    _set_clock(clock, datetime(2026, 4, 30, 23, 1, tzinfo=UTC))  # 1 May in London: 30 days left
    [warned] = expiry.warn_expiring(session, clock=clock)
    assert (warned.threshold_days, warned.days_left) == (30, 30)
    told = {u for u, in session.execute(select(Notice.user_id).where(Notice.event == "contract_expiring"))}
    names = set(session.scalars(select(User.username).where(User.id.in_(told))))
    assert names == {"manager", "buyer"}  # managers and procurement; not the nurse, tech or viewer
    assert session.scalar(select(func.count()).select_from(Notice).where(Notice.event == "contract_expiring")) == 4
    contracts.update_contract(session, made.id, {"ends_on": "2027-05-31"}, actor=manager, clock=clock)
    assert expiry.warn_expiring(session, clock=clock) == []  # the renewed term is 395 days away
    _set_clock(clock, datetime(2027, 3, 2, 0, 30, tzinfo=UTC))
    assert [w.threshold_days for w in expiry.warn_expiring(session, clock=clock)] == [90]
    assert [(t, n) for _, t, n in _warnings(session)] == [(90, 2), (30, 2), (90, 2)]


def test_a_contract_added_inside_both_windows_gets_only_the_30_day_warning(session, clock):
    manager = actor(session, "manager")
    contracts.create_contract(session, _contract(ends_on="2026-01-21"), actor=manager, clock=clock)
    [warned] = expiry.warn_expiring(session, clock=clock)
    assert (warned.threshold_days, warned.days_left, warned.told) == (30, 20, 2)
    assert [(t, n) for _, t, n in _warnings(session)] == [(90, 0), (30, 2)]
    notice = session.scalars(select(Notice).where(Notice.event == "contract_expiring")).first()
    assert notice.subject == "Service contract SC-2026-001 ends in 20 days (2026-01-21)"
    assert "Covers: parts, labour" in notice.body and "Assets: VENT-0001" in notice.body
    assert notice.link == f"/contracts/{warned.contract_id}"
    _set_clock(clock, datetime(2026, 1, 22, 12, 0, tzinfo=UTC))
    assert expiry.warn_expiring(session, clock=clock) == []  # ended: nothing more


def test_two_schedulers_over_100_days_send_each_warning_once_by_e_mail(engine, clock, smtp_server):
    with session_scope(engine) as s:
        for name in ("manager", "buyer"):
            users.find_user(s, name).email = f"{name}@hospital.example"
        contracts.create_contract(s, _contract(ends_on="2026-04-10"), actor=actor(s, "manager"), clock=clock)
    schedulers = [Scheduler(engine, clock=clock, holder=name, jobs=EXPIRY_ONLY) for name in ("north", "south")]
    mailer = NoticeMailer(engine, EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port,
                                                sender="wardlink@hospital.example", to=[], timeout_s=5),
                          public_url="https://wardlink.hospital.example", site_name="Riverside", clock=clock,
                          retry_initial_s=60, retry_max_s=600, max_attempts=5)
    smtp_server.messages.clear()
    try:
        for _day in range(100):
            for scheduler in schedulers:
                assert not scheduler.run_once().failed
            mailer.run_pending()
            clock.advance(86400)
    finally:
        for scheduler in schedulers:
            scheduler.close()
    subjects = sorted((m["To"], m["Subject"]) for m in smtp_server.messages)
    assert subjects == sorted((f"{n}@hospital.example", f"[Riverside] Service contract SC-2026-001 ends in {d} days "
                               "(2026-04-10)")
                              for n in ("manager", "buyer") for d in (90, 30))
    with session_scope(engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(NoticeEmail).where(NoticeEmail.state != "sent")) == 0
