"""Department consumables: lists kept by procurement, receipts and collections in an
append-only log, the balance read from the log, refusals, department scope, the reorder notice
once per fall, and monthly consumption with its files."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from consumables_support import department_id, make_item
from openpyxl import load_workbook
from relational_support import actor, clock, engine, session
from sqlalchemy import select, text

from wardlink.hub.db.models import AuditLog, ConsumableEntry, Notice, User
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied, StoreError
from wardlink.hub.services.consumables import consumption, items, log


def test_receipts_and_collections_give_the_balance_and_each_is_audited(session, clock):
    item = make_item(session, clock, received="12")
    nurse = actor(session, "nurse")
    row = log.collect(session, item.id, quantity="3.5", notes="night shift", actor=nurse, clock=clock)
    assert row.collected_by_id == nurse.user_id and row.on_date == date(2026, 1, 1)
    log.collect(session, item.id, quantity=1, collected_by_name="Ama Mensah", actor=nurse, clock=clock)
    assert items.balance(session, item.id) == Decimal("7.5")
    page = log.history(session, item.id, actor=nurse)
    assert [(e.kind, e.quantity, e.collector) for e in page.items] == [
        ("collection", Decimal("1"), "Ama Mensah"), ("collection", Decimal("3.5"), "Nurse"),
        ("receipt", Decimal("12"), "")]
    after = log.balances_after(session, item.id, [e.id for e in page.items])
    assert [after[e.id] for e in page.items] == [Decimal("7.5"), Decimal("8.5"), Decimal("12")]
    actions = session.scalars(select(AuditLog.action).where(AuditLog.entity == "consumable")
                              .order_by(AuditLog.id)).all()
    assert actions == ["consumable.create", "consumable.receipt", "consumable.collection",
                       "consumable.collection"]


def test_a_collection_larger_than_the_balance_is_refused_and_writes_nothing(session, clock):
    item = make_item(session, clock, received="2")
    with pytest.raises(log.NotEnoughStock, match="not enough Examination gloves in stock for .*: 2 box left, 3 asked"):
        log.collect(session, item.id, quantity=3, actor=actor(session, "nurse"), clock=clock)
    assert items.balance(session, item.id) == 2
    assert session.scalar(select(ConsumableEntry.id).where(ConsumableEntry.kind == "collection")) is None
    log.collect(session, item.id, quantity=2, actor=actor(session, "nurse"), clock=clock)
    assert items.balance(session, item.id) == 0


@pytest.mark.parametrize("fields, message", [
    ({"quantity": 0}, "quantity: must be a number greater than 0"),
    ({"quantity": "-1"}, "quantity: must be a number greater than 0"),
    ({"quantity": "1.0001"}, "quantity: must have at most three decimals"),
    ({"quantity": 1, "on_date": "2026-01-02"}, "on_date: 2026-01-02 is in the future"),
    ({"quantity": 1, "on_date": "yesterday"}, "on_date: must be a date"),
    ({"quantity": 1, "collected_by_id": 1, "collected_by_name": "Ama"}, "not both"),
    ({"quantity": 1, "collected_by_id": 99999}, "collected_by_id: no active user 99999"),
])
def test_bad_collections_are_refused_with_the_field_named(session, clock, fields, message):
    item = make_item(session, clock)
    with pytest.raises(InvalidInput, match=message):
        log.collect(session, item.id, **fields, actor=actor(session, "nurse"), clock=clock)
    assert items.balance(session, item.id) == 10


def test_a_collection_by_an_internal_process_must_name_the_collector(session, clock):
    item = make_item(session, clock)
    with pytest.raises(InvalidInput, match="collected_by: name the collecting officer"):
        log.collect(session, item.id, quantity=1, actor=None, clock=clock)


def test_the_log_cannot_be_changed_or_deleted(session, clock):
    item = make_item(session, clock)
    row = session.scalars(select(ConsumableEntry).where(ConsumableEntry.consumable_id == item.id)).one()
    row.quantity = Decimal("99")
    with pytest.raises(StoreError, match="append-only"):
        session.flush()
    session.rollback()
    with pytest.raises(Exception, match="append-only"):
        with session.begin_nested():
            session.execute(text("DELETE FROM consumable_entries"))


def test_roles_and_department_scope(session, clock):
    item = make_item(session, clock)
    pharm = make_item(session, clock, name="Pill cups", code="PHARM")
    nurse, buyer, viewer, vendor = (actor(session, n) for n in ("nurse", "buyer", "viewer", "vendor"))
    with pytest.raises(PermissionDenied):
        log.receive(session, item.id, quantity=1, actor=nurse, clock=clock)
    with pytest.raises(PermissionDenied):
        log.collect(session, item.id, quantity=1, actor=viewer, clock=clock)
    with pytest.raises(PermissionDenied):
        items.list_items(session, actor=vendor)
    with pytest.raises(NotFound):
        log.collect(session, pharm.id, quantity=1, actor=nurse, clock=clock)
    with pytest.raises(PermissionDenied):
        items.create_item(session, {"name": "Masks"}, actor=nurse, clock=clock)
    assert [r.item.name for r in items.list_items(session, actor=nurse).items] == ["Examination gloves"]
    assert {r.item.name for r in items.list_items(session, actor=buyer).items} == {"Examination gloves", "Pill cups"}
    log.receive(session, pharm.id, quantity=1, actor=buyer, clock=clock)
    log.collect(session, pharm.id, quantity=1, actor=actor(session, "pharmtech"), clock=clock)
    assert items.balance(session, pharm.id) == 10


def test_names_are_unique_in_a_department_without_case(session, clock):
    make_item(session, clock)
    with pytest.raises(InvalidInput, match="name: the department already lists 'Examination gloves'"):
        items.create_item(session, {"department_id": department_id(session, "ICU"), "name": "examination  GLOVES"},
                          actor=None, clock=clock)
    other = items.create_item(session, {"department_id": department_id(session, "PHARM"),
                                        "name": "Examination gloves"}, actor=None, clock=clock)
    assert other.id
    with pytest.raises(InvalidInput, match="department_id: is required"):
        items.create_item(session, {"name": "Masks"}, actor=actor(session, "buyer"), clock=clock)


def test_an_item_with_a_log_keeps_its_department_and_an_inactive_one_takes_no_entries(session, clock):
    item = make_item(session, clock)
    with pytest.raises(InvalidInput, match="department_id: the item has a log"):
        items.update_item(session, item.id, {"department_id": department_id(session, "PHARM")}, actor=None,
                          clock=clock)
    items.update_item(session, item.id, {"active": False}, actor=None, clock=clock)
    with pytest.raises(InvalidInput, match="inactive"):
        log.collect(session, item.id, quantity=1, actor=actor(session, "nurse"), clock=clock)


def _reorder_notices(session):
    return session.scalars(select(Notice).where(Notice.event == "consumable_low").order_by(Notice.id)).all()


def _names(session, notices):
    return {session.get(User, n.user_id).username for n in notices}


def test_the_reorder_notice_goes_once_per_fall_to_procurement_and_the_managers(session, clock):
    item = make_item(session, clock, reorder_level="4", received="10")
    nurse = actor(session, "nurse")
    log.collect(session, item.id, quantity=5, actor=nurse, clock=clock)  # 5 left: above the level
    assert _reorder_notices(session) == []
    log.collect(session, item.id, quantity=1, actor=nurse, clock=clock)  # 4: at the level
    first = _reorder_notices(session)
    assert _names(session, first) == {"buyer", "manager"}  # not the PHARM-only people, not the ward
    assert first[0].subject.startswith("Reorder Examination gloves for ") and first[0].subject.endswith(
        ": 4 box left")
    assert first[0].link == f"/consumables/items/{item.id}"
    log.collect(session, item.id, quantity=2, actor=nurse, clock=clock)  # still low: no second notice
    assert len(_reorder_notices(session)) == len(first)
    assert items.get_item(session, item.id, actor=None).low_since is not None
    log.receive(session, item.id, quantity=10, actor=None, clock=clock)  # 12: restocked
    assert items.get_item(session, item.id, actor=None).low_since is None
    log.collect(session, item.id, quantity=9, actor=nurse, clock=clock)  # 3: a second fall
    assert len(_reorder_notices(session)) == 2 * len(first)


def test_a_new_item_with_nothing_received_is_low_without_a_notice(session, clock):
    item = make_item(session, clock, reorder_level="2", received=None)
    assert item.low_since is not None and _reorder_notices(session) == []


def test_monthly_consumption_per_department_and_its_files(session, clock):
    gloves = make_item(session, clock, received="100")
    masks = make_item(session, clock, name="=Masks", unit="pack", received=None)
    log.receive(session, masks.id, quantity=50, on_date="2025-11-03", actor=None, clock=clock)
    nurse = actor(session, "nurse")
    log.collect(session, gloves.id, quantity=4, on_date="2025-11-30", actor=nurse, clock=clock)
    log.collect(session, gloves.id, quantity=6, on_date="2025-12-01", actor=nurse, clock=clock)
    log.collect(session, masks.id, quantity="2.5", on_date="2025-12-31", actor=nurse, clock=clock)
    log.collect(session, gloves.id, quantity=1, actor=nurse, clock=clock)
    report = consumption.compute(session, None, actor=nurse, start="2025-11", end="2026-01", clock=clock)
    assert report.labels == ["2025-11", "2025-12", "2026-01"]
    got = {r.item.name: (r.collected, r.received) for r in report.items}
    assert got["Examination gloves"] == ([4, 6, 1], [0, 0, 100])
    assert got["=Masks"] == ([0, Decimal("2.5"), 0], [50, 0, 0])
    spec = report.chart(unit="quantity")
    assert [s["label"] for s in spec["series"]] == ["Examination gloves", "=Masks"]
    assert spec["series"][0]["values"] == [4.0, 6.0, 1.0]
    lines = list(csv.reader(io.StringIO(consumption.to_csv(report).decode())))
    assert lines[0] == list(consumption.HEADER)
    assert lines[1:] == [["ICU", "'=Masks", "pack", "2025-11", "0", "50"], ["ICU", "'=Masks", "pack", "2025-12", "2.5", "0"],
                         ["ICU", "'=Masks", "pack", "2026-01", "0", "0"],
                         ["ICU", "Examination gloves", "box", "2025-11", "4", "0"],
                         ["ICU", "Examination gloves", "box", "2025-12", "6", "0"],
                         ["ICU", "Examination gloves", "box", "2026-01", "1", "100"]]
    sheet = load_workbook(io.BytesIO(consumption.to_xlsx(report))).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == list(consumption.HEADER) and values[5] == ["ICU", "Examination gloves", "box", "2025-12", 6, 0]


def test_consumption_periods_are_checked_and_scoped(session, clock):
    nurse = actor(session, "nurse")
    with pytest.raises(InvalidInput, match="from: must be a month on or before to"):
        consumption.compute(session, None, actor=nurse, start="2026-02", end="2026-01", clock=clock)
    with pytest.raises(InvalidInput, match="at most 36 months"):
        consumption.compute(session, None, actor=nurse, start="2020-01", end="2026-01", clock=clock)
    with pytest.raises(InvalidInput, match="from: must be a month as YYYY-MM"):
        consumption.compute(session, None, actor=nurse, start="2026-13", clock=clock)
    with pytest.raises(InvalidInput, match="from: must be a month as YYYY-MM"):
        consumption.compute(session, None, actor=nurse, start="\x1c", clock=clock)
    with pytest.raises(InvalidInput, match="from: months go from 1901-01 to 9998-12"):
        consumption.compute(session, None, actor=nurse, start="9999-01", end="9999-12", clock=clock)
    with pytest.raises(PermissionDenied):
        consumption.compute(session, department_id(session, "PHARM"), actor=nurse, clock=clock)
    report = consumption.compute(session, None, actor=nurse, clock=clock)
    assert report.labels[0] == "2025-02" and report.labels[-1] == "2026-01"
