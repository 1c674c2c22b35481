"""A manager builds a five-item checklist and a quarterly calendar plan in Chromium, and the
calendar shows the plan's next four services; on a desktop and on a 390x844 phone.

Everything is done through the pages as a person would (the steps are in ``pm_steps``): the
checklist builder's Add item button, the plan form's fields and selects, the calendar's month
(desktop) or week (phone) views moved with Later. Each step is photographed into the artifacts
directory (``screenshots/pm-<device>-<nn>-<step>.png``). No script or policy error may occur
(Session.close checks the console).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from pm_steps import Camera, Item, Plan, build_checklist, create_plan, plan_days_on_calendar
from test_ui_browser import DESKTOP, PHONE, Session
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, ChecklistTemplate, PmPlan
from wardlink.hub.services.maintenance import checklists

pytestmark = pytest.mark.timeout(240)
ITEMS = (Item("Shock delivered within 10 % of the set energy", "pass_fail"),
         Item("Earth leakage current", "value", unit="uA", high="500"),
         Item("Battery capacity", "value", unit="%", low="80", high="100"),
         Item("Photo of the serial plate", "photo"),
         Item("Remarks", "text", required=False))  # a remark is optional
#: The hub's clock starts on 1 January 2026; plans are counted from 15 January.
DUES = [date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15), date(2027, 1, 15)]


@pytest.mark.parametrize(("device", "context", "tag"), [("desktop", DESKTOP, "IP-0101"),
                                                         ("phone", PHONE, "VENT-0001")])
def test_a_manager_builds_a_checklist_and_a_quarterly_plan_and_sees_its_next_four_services(
        served, chromium, shots, device, context, tag):
    shoot = Camera(shots, f"pm-{device}")
    me = Session(chromium, served, **context).sign_in("manager")
    name = f"Defibrillator quarterly ({device})"
    build_checklist(me, name, ITEMS, shoot)
    with session_scope(served.engine, readonly=True) as s:
        template = s.scalars(select(ChecklistTemplate).where(
            ChecklistTemplate.name == name)).one()
        items = checklists.current_version(s, template).items
    assert [(i["label"], i["kind"]) for i in items] == [(i.label, i.kind) for i in ITEMS]
    assert (items[2]["unit"], items[2]["low"], items[2]["high"], items[4]["required"]) == ("%", 80, 100, False)

    plan = Plan(f"Quarterly safety check {tag}", tag, name, anchor=date(2026, 1, 15))
    create_plan(me, plan, shoot)
    with session_scope(served.engine, readonly=True) as s:
        row = s.scalars(select(PmPlan).where(PmPlan.name == plan.name)).one()
        assert (row.interval_count, row.interval_unit, row.checklist_template_id) == (3, "month", template.id)
        assert s.scalars(select(AuditLog).where(AuditLog.action == "pm_plan.create",
                                                AuditLog.entity_id == str(row.id))).one().actor == "manager"

    # The calendar, moved forward with Later: each of the next four services on its day.
    view = "month" if device == "desktop" else "week"
    assert plan_days_on_calendar(me, plan, view=view, start=date(2026, 1, 1), until=DUES[-1], shoot=shoot) == DUES
    if device == "phone":
        width = me.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the week view scrolls sideways on a phone ({width} px)"
    me.close()
