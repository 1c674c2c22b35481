"""Recalls on SQLite and PostgreSQL: an openFDA file of 60 records imported into a register with
exact matches, fuzzy ones and near misses (``recall_support``); the work orders opened once per
asset even when the file comes twice; the review queue; notices typed in for other regulators;
the dashboard's figures; who may do what.
"""

from __future__ import annotations

import json

import pytest
from recall_support import EXACT, EXPECTED, FILE, FUZZY, NEAR_MISSES, REFUSED_AT, add_register
from relational_support import actor, clock, engine, session
from sqlalchemy import func, select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Asset, AuditLog, Recall, RecallMatch, User, WorkOrder
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.compliance import recall_review, recalls
from wardlink.hub.services.maintenance import workorders


def _matches(session) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for reference, tag, kind in session.execute(
            select(Recall.reference, Asset.tag, RecallMatch.kind).join(RecallMatch.recall).join(RecallMatch.asset)):
        found.setdefault(reference, {})[tag] = kind
    return found


def _recall_orders(session) -> int:
    return session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.kind == "recall"))


@pytest.fixture
def registered(engine, clock):
    """The seeded hospital with the recall test register added."""
    with session_scope(engine) as s:
        add_register(s, clock)
    return engine


def _import(engine, clock, who="manager", content=None):
    with session_scope(engine) as s:
        person = actor(s, who)
    return recalls.import_file(engine, "device-recall.json", content or FILE.read_bytes(), actor=person, clock=clock)


def test_the_file_matches_the_expected_assets_and_none_of_the_near_misses(registered, clock):
    row, tally = _import(registered, clock)
    assert tally.as_dict() == {"records": 60, "new_recalls": 53, "known_recalls": 2, "refused": 5,
                               "linked": EXACT, "to_review": FUZZY, "work_orders": EXACT}
    assert [r.position for r in tally.refused] == REFUSED_AT
    with session_scope(registered) as s:
        assert _matches(s) == EXPECTED
        assert not NEAR_MISSES & {tag for found in _matches(s).values() for tag in found}
        states = dict(s.execute(select(RecallMatch.kind, RecallMatch.state).distinct()).all())
        assert states == {"exact": "linked", "fuzzy": "review"}
        orders = s.scalars(select(WorkOrder).where(WorkOrder.kind == "recall")).all()
        assert sorted(o.asset.tag for o in orders) == sorted(
            tag for found in EXPECTED.values() for tag, kind in found.items() if kind == "exact")
        [z3] = [o for o in orders if o.asset.tag == "RC-03"]
        assert z3.priority == "critical" and z3.title.startswith("Recall Z-0003-2026 (FDA): CareFusion Inc.")
        assert "Model 8015, all serial numbers" in z3.description
        assert row.problems.splitlines()[0] == "record 21 (Z-0901-2026): recalling_firm: is missing"
        [audit] = s.scalars(select(AuditLog).where(AuditLog.action == "recall.import")).all()
        assert json.loads(audit.after_json)["work_orders"] == EXACT


def test_the_refused_records_are_listed_with_their_reasons(registered, clock):
    _, tally = _import(registered, clock)
    assert [recalls.describe(r) for r in tally.refused] == [
        "record 21 (Z-0901-2026): recalling_firm: is missing",
        "record 22 (Z-0902-2026): event_date_initiated: must be a date (YYYY-MM-DD or YYYYMMDD), got '2026-13-45'",
        "record 41 (Z-0903-2026): product_code: must be three letters, got '12A'",
        "record 46: record: must be a JSON object, got str",
        "record 60: product_res_number: is missing (no product_res_number, recall_number or cfres_id)",
    ]


def test_importing_the_same_file_twice_opens_the_work_orders_once(registered, clock):
    _import(registered, clock)
    with session_scope(registered) as s:
        before = (_recall_orders(s), s.scalar(select(func.count()).select_from(RecallMatch)))
    _, again = _import(registered, clock)
    assert again.as_dict() == {"records": 60, "new_recalls": 0, "known_recalls": 55, "refused": 5, "linked": 0,
                               "to_review": 0, "work_orders": 0}
    with session_scope(registered) as s:
        assert (_recall_orders(s), s.scalar(select(func.count()).select_from(RecallMatch))) == before
        assert s.scalar(select(func.count()).select_from(Recall)) == 53


def test_a_confirmed_match_gets_one_order_and_a_later_import_finds_new_assets_only(registered, clock):
    _import(registered, clock)
    with session_scope(registered) as s:
        tech = actor(s, "tech")
        [pending] = [m for m in recall_review.review_queue(s, actor=tech) if m.asset.tag == "RC-20"]
        confirmed = recall_review.confirm(s, pending.id, actor=tech, clock=clock, note="Same device, label lacks code")
        assert confirmed.state == "linked" and confirmed.work_order.asset.tag == "RC-20"
        with pytest.raises(InvalidInput, match="already decided"):
            recall_review.confirm(s, pending.id, actor=tech, clock=clock)
        [other] = [m for m in recall_review.review_queue(s, actor=tech) if m.asset.tag == "RC-18"]
        with pytest.raises(InvalidInput, match="reason: is required"):
            recall_review.reject(s, other.id, actor=tech, clock=clock)
        assert recall_review.reject(s, other.id, actor=tech, clock=clock, reason="Older frame").state == "rejected"
        add = {"tag": "RC-99", "name": "Pump", "category": "Recall test", "make": "CareFusion", "model": "8015",
               "product_code": "FRN"}
        from wardlink.hub.services.assets import register as assets
        assets.create_asset(s, add, actor=actor(s, "manager"), clock=clock)
        orders = _recall_orders(s)
    _, again = _import(registered, clock)
    assert (again.linked, again.to_review, again.work_orders) == (1, 0, 1)
    with session_scope(registered) as s:
        assert _recall_orders(s) == orders + 1
        assert _matches(s)["Z-0003-2026"] == {"RC-03": "exact", "RC-99": "exact"}
        assert s.scalar(select(RecallMatch.state).join(RecallMatch.asset).where(Asset.tag == "RC-18")) == "rejected"


def test_a_notice_from_another_regulator_is_matched_without_a_product_code(session, clock):
    add_register(session, clock)
    who = actor(session, "manager")
    recall, tally = recalls.create_notice(session, {
        "regulator": "MHRA", "reference": "FSN 2026/001", "recalling_firm": "Masimo Corporation",
        "product_description": "Field safety notice: Radical-7 Pulse CO-Oximeter battery", "classification": ""},
        actor=who, clock=clock)
    assert (recall.source, tally.linked, tally.to_review) == ("manual", 3, 0)
    assert {m.asset.tag for m in recall_review.matches_of(session, recall.id, actor=who)} == {"RC-19", "RC-20",
                                                                                              "RC-21"}
    with pytest.raises(InvalidInput, match="MHRA notice FSN 2026/001 is already recorded"):
        recalls.create_notice(session, {"regulator": "MHRA", "reference": "FSN 2026/001", "recalling_firm": "x",
                                        "product_description": "y"}, actor=who, clock=clock)
    with pytest.raises(InvalidInput, match="regulator: must be one of"):
        recalls.create_notice(session, {"regulator": "XYZ", "reference": "1", "recalling_firm": "x",
                                        "product_description": "y"}, actor=who, clock=clock)


def test_the_dashboard_counts_open_recalls_affected_assets_and_completion(registered, clock):
    _import(registered, clock)
    with session_scope(registered) as s:
        tech = actor(s, "tech")
        board = recall_review.dashboard(s, actor=tech)
        assert (board.affected_assets, board.linked, board.done, board.to_review) == (EXACT, EXACT, 0, FUZZY)
        assert board.completion == 0.0 and len(board.open_recalls) == len(EXPECTED)
        order = s.scalar(select(WorkOrder).join(WorkOrder.asset).where(Asset.tag == "RC-03"))
        tech_id = s.scalar(select(User.id).where(User.username == "tech"))
        workorders.transition(s, order.id, "assigned", {"assignee_id": tech_id}, actor=actor(s, "manager"), clock=clock)
        workorders.transition(s, order.id, "in_progress", actor=tech, clock=clock)
        workorders.transition(s, order.id, "completed", {"resolution_category": "software_updated"}, actor=tech,
                              clock=clock)
        board = recall_review.dashboard(s, actor=tech)
        assert (board.linked, board.done, board.completion) == (EXACT, 1, round(100 / EXACT, 1))
        assert len(board.open_recalls) == len(EXPECTED) - 1 and board.affected_assets == EXACT - 1
        [done] = recall_review.list_recalls(s, actor=tech, status="done")
        assert (done.recall.reference, done.completion) == ("Z-0003-2026", 100.0)
        icu = recall_review.dashboard(s, actor=actor(s, "pharmtech"))
        assert icu.affected_assets == 0 and icu.to_review == 0


def test_who_may_import_review_and_see_recalls(registered, clock):
    with pytest.raises(PermissionDenied, match="may not import recalls"):
        _import(registered, clock, who="viewer")
    with pytest.raises(PermissionDenied, match="recalls concern every department"):
        _import(registered, clock, who="pharmtech")
    _import(registered, clock)
    with session_scope(registered) as s:
        with pytest.raises(PermissionDenied, match="may not view recalls"):
            recall_review.list_recalls(s, actor=actor(s, "nurse"))
        pending = recall_review.review_queue(s, actor=actor(s, "viewer"))
        assert len(pending) == FUZZY
        with pytest.raises(PermissionDenied):
            recall_review.confirm(s, pending[0].id, actor=actor(s, "viewer"), clock=clock)


def test_a_file_that_is_not_an_openfda_file_is_refused_whole(registered, clock):
    with pytest.raises(InvalidInput, match="file: is not JSON"):
        _import(registered, clock, content=b"\x89PNG...")
    with pytest.raises(InvalidInput, match='no "results" list'):
        _import(registered, clock, content=b'{"meta": {}}')
