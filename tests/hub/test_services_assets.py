"""The asset register: validation with clear messages, risk scores, search, and audited edits."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from relational_support import actor, clock, engine, session
from sqlalchemy import select

from wardlink.hub.db.models import AuditLog
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.people import org

PUMP = {"tag": "SP-0100", "name": "Syringe pump", "category": "Syringe pump", "make": "B. Braun",
        "model": "Perfusor Space", "serial": "BB-PS-1", "purchase_date": "2024-02-01",
        "purchase_cost": "1999.90", "equipment_function": "9", "physical_risk": "4",
        "maintenance_requirement": "3", "incident_history": "0", "life_support": False}


def test_creating_an_asset_parses_fields_scores_risk_and_audits(session, clock):
    asset = assets.create_asset(session, PUMP, actor=actor(session, "manager"), clock=clock)
    assert (asset.purchase_date, asset.purchase_cost) == (date(2024, 2, 1), Decimal("1999.90"))
    assert (asset.owner_type, asset.equipment_status, asset.maintenance_status) == (
        "hospital", "in_service", "compliant")
    assert asset.em_score == 9 + 4 + 3 + 0 and asset.needs_planned_maintenance
    row = session.scalars(select(AuditLog).where(AuditLog.entity_id == "SP-0100")).one()
    assert (row.action, row.actor, row.source_ip) == ("asset.create", "manager", "192.0.2.10")
    assert json.loads(row.after_json)["purchase_cost"] == "1999.90"


@pytest.mark.parametrize("field, value, message", [
    ("tag", "bad tag!", "tag: must be 1-64 characters"),
    ("tag", "VF-0001", "tag: 'VF-0001' is already used"),
    ("name", "  ", "name: is required"),
    ("equipment_status", "broken", "equipment_status: must be one of in_service, out_of_service, faulty, tagged_out, retired"),
    ("purchase_cost", "12.345", "purchase_cost: must have at most two decimals"),
    ("purchase_cost", "-1", "purchase_cost: must be between 0"),
    ("purchase_date", "01/02/2024", "purchase_date: must be a date as YYYY-MM-DD"),
    ("physical_risk", "7", "physical_risk: must be one of 1, 2, 3, 4, 5"),
    ("incident_history", "1.5", "incident_history: must be one of -2, -1, 0, 1, 2"),
    ("department_id", "999", "department_id: no department 999"),
    ("colour", "red", "colour: unknown field"),
])
def test_bad_input_is_refused_with_a_message_naming_the_field(session, clock, field, value, message):
    with pytest.raises(InvalidInput) as caught:
        assets.create_asset(session, {**PUMP, field: value}, actor=None, clock=clock)
    assert str(caught.value).startswith(message)
    assert assets.find_asset(session, "SP-0100") is None


def test_an_update_audits_only_what_changed_and_rescoring_follows(session, clock):
    tech = actor(session, "tech")
    before = assets.get_asset(session, "VF-0001", actor=tech).em_score
    clock.advance(60)
    asset = assets.update_asset(session, "VF-0001", {"equipment_status": "faulty", "incident_history": "2",
                                                     "name": "ICU medication refrigerator"},
                                actor=tech, clock=clock)
    assert asset.em_score == before + 2 and asset.updated_at == assets.utc_now(clock)
    row = session.scalars(select(AuditLog).where(AuditLog.action == "asset.update")).one()
    assert json.loads(row.before_json) == {"equipment_status": "in_service", "incident_history": 0,
                                           "em_score": before}
    assert json.loads(row.after_json) == {"equipment_status": "faulty", "incident_history": 2,
                                          "em_score": before + 2}


def test_an_update_that_changes_nothing_writes_no_audit_row(session, clock):
    count = session.query(AuditLog).count()
    assets.update_asset(session, "VF-0001", {"name": "ICU medication refrigerator"}, actor=None, clock=clock)
    assert session.query(AuditLog).count() == count


def test_equipment_and_maintenance_status_are_independent(session, clock):
    asset = assets.update_asset(session, "PM-0001", {"equipment_status": "in_service"}, actor=None, clock=clock)
    assert (asset.equipment_status, asset.maintenance_status) == ("in_service", "overdue")
    asset = assets.update_asset(session, "PM-0001", {"maintenance_status": "compliant",
                                                     "equipment_status": "faulty"}, actor=None, clock=clock)
    assert (asset.equipment_status, asset.maintenance_status) == ("faulty", "compliant")


def test_search_filters_sorting_and_pages(session):
    viewer = actor(session, "viewer")
    assert [a.tag for a in assets.list_assets(session, actor=viewer, q="infusomat").items] == ["IP-0101", "IP-0102"]
    assert [a.tag for a in assets.list_assets(session, actor=viewer, q="HM-C6").items] == ["VENT-0001"]
    assert assets.list_assets(session, actor=viewer, q="%").total == 0  # wildcards are literal
    faulty = assets.list_assets(session, actor=viewer, equipment_status="faulty").items
    assert [a.tag for a in faulty] == ["IP-0102"]
    pharmacy = next(d for d in org.list_departments(session) if d.code == "PHARM")
    assert [a.tag for a in assets.list_assets(session, actor=viewer, department_id=pharmacy.id).items] == ["VF-0002"]
    ranked = assets.list_assets(session, actor=viewer, sort="risk", per_page=3).items
    assert [a.em_score for a in ranked] == sorted((a.em_score for a in ranked), reverse=True)
    assert ranked[0].tag == "VENT-0001"
    first = assets.list_assets(session, actor=viewer, per_page=5, page=1)
    third = assets.list_assets(session, actor=viewer, per_page=5, page=3)
    assert (first.total, first.pages, len(third.items), third.has_next) == (14, 3, 4, False)
    assert not {a.tag for a in first.items} & {a.tag for a in third.items}
    with pytest.raises(InvalidInput, match="sort: must be one of"):
        assets.list_assets(session, actor=viewer, sort="price")
    with pytest.raises(InvalidInput, match="per_page"):
        assets.list_assets(session, actor=viewer, per_page=1000)
    with pytest.raises(InvalidInput, match="equipment_status"):
        assets.list_assets(session, actor=viewer, equipment_status="sad")


def test_unknown_tags_are_not_found(session):
    with pytest.raises(NotFound, match="NOPE"):
        assets.get_asset(session, "NOPE", actor=None)


def test_the_categories_in_use_are_listed_once_each_in_order(session, clock):
    from wardlink.hub.db.models import Asset

    for n, category in enumerate(("Zimmer frame", "Syringe pump", "Zimmer frame", "Apnoea monitor")):
        assets.create_asset(session, {**PUMP, "tag": f"CAT-{n}", "serial": f"C{n}", "category": category},
                            actor=actor(session, "manager"), clock=clock)
    used = sorted(set(session.scalars(select(Asset.category))))
    assert assets.categories(session) == used
    assert {"Apnoea monitor", "Syringe pump", "Zimmer frame"} <= set(used) and len(used) == len(set(used))
