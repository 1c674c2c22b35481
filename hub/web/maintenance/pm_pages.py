"""Maintenance-plan pages: the plans, one plan's assets and services, and a month calendar.

The calendar shows the services the scheduler has generated (due dates of PM occurrences)
and, for each plan, the next due date the schedule computes for every covered asset.
"""

from __future__ import annotations

import calendar as cal
from datetime import date

from flask import Blueprint, g, render_template, request

from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.maintenance import pm
from wardlink.hub.services.maintenance import pm_standing
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import db
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.state import state

bp = Blueprint("pm", __name__, template_folder="templates", url_prefix="/maintenance")
PER_PAGE = 50


@bp.get("")
@login_required
def index():
    """List maintenance plans."""
    number = page_number()
    page = pm.list_plans(db(), actor=g.actor, q=request.args.get("q") or None, page=number, per_page=PER_PAGE)
    return render_template("pm/list.html", page=page)


@bp.get("/<int:plan_id>")
@login_required
def detail(plan_id: int):
    """Show a plan, where each covered asset stands, and its recent services."""
    plan = pm.get_plan(db(), plan_id, actor=g.actor)
    return render_template("pm/detail.html", plan=plan, outlook=pm.outlook(db(), plan, actor=g.actor),
                           services=pm.list_services(db(), plan.id, actor=g.actor, clock=state().clock,
                                                     per_page=25))


def _month(raw: str | None, today: date) -> date:
    if not raw:
        return today.replace(day=1)
    try:
        year, month = (int(x) for x in raw.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise InvalidInput(f"month: must be YYYY-MM, got {raw!r}") from None


@bp.get("/calendar")
@login_required
def calendar():
    """Show a month of planned maintenance: generated services by due date."""
    require(g.actor, "pm.view")
    now = utc_now(state().clock)
    today = now.date()
    first = _month(request.args.get("month"), today)
    days = pm_standing.calendar_month(db(), actor=g.actor, first=first, now=now)
    weeks = cal.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    previous = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return render_template("pm/calendar.html", weeks=weeks, days=days, first=first, today=today,
                           previous=previous, following=following,
                           total=sum(len(v) for v in days.values()))
