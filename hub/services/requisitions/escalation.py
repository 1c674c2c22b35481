"""Escalation of a requisition past its due date, exactly once.

:func:`escalate_overdue` (run by the scheduler) finds the requisitions still owing work
(submitted, received, in review, approved or in execution) whose due date is before today at
the assigned department's site. Each escalates once: ``escalated_at`` is stamped by a
conditional update (two schedulers cannot both win), an ``escalate`` movement (system to the
assigned department's manager) and an audit row are written, the assigned department's
managers (and managers without a department, who hear about every department) are told, and so
is the person who raised it, through the notice hook (in the app and by e-mail through the
outbox), all in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Requisition
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import label
from wardlink.hub.i18n import N_, translate
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.requisitions.register import OWED_STATES, movement, today
from wardlink.clock import Clock

#: Who acts for an escalation in the movement and audit rows.
SCHEDULER = Actor.system("scheduler")
#: Who hears that a requisition is overdue, besides the person who raised it.
ESCALATED_ROLES = ("manager",)


@dataclass(frozen=True)
class Escalated:
    """One escalation: the requisition, how many days overdue and who was told."""

    requisition_id: int
    code: str
    days_overdue: int
    managers: int
    requester: int


def escalation_key(requisition_id: int, who: str) -> str:
    """Return the notice key of an escalation (``managers`` or ``requester``)."""
    return f"requisition:{requisition_id}:overdue:{who}"


def _body(req: Requisition, days: int, lead: str):
    def write(locale: str | None) -> str:
        lines = [translate(locale, lead), "",
                 translate(locale, N_("Requisition: %(code)s %(title)s"), code=req.code, title=req.title),
                 translate(locale, N_("From: %(name)s"), name=req.requesting_department.name),
                 translate(locale, N_("Assigned to: %(name)s"), name=req.assigned_department.name),
                 translate(locale, N_("Due on: %(day)s (%(days)s days ago)"), day=req.due_on.isoformat(), days=days),
                 translate(locale, N_("Status: %(status)s"), status=translate(locale, label(req.status)))]
        return "\n".join(lines) + "\n"
    return write


def _escalate(session: Session, req: Requisition, days: int, clock: Clock) -> Escalated | None:
    now = utc_now(clock)
    won = session.execute(update(Requisition).where(Requisition.id == req.id, Requisition.escalated_at.is_(None))
                          .values(escalated_at=now, updated_at=now).execution_options(synchronize_session=False))
    if won.rowcount != 1:
        return None  # another scheduler escalated it in the meantime
    session.refresh(req)
    movement(session, req, action="escalate", from_role="system", to_role="assigned_manager",
             from_status=req.status, remarks=f"Overdue: due on {req.due_on.isoformat()}", who=SCHEDULER, clock=clock)
    audit.record(session, actor=SCHEDULER, action="requisition.escalate", entity="requisition", entity_id=req.id,
                 after={"escalated_at": now, "due_on": req.due_on, "status": req.status}, clock=clock)
    link = f"/requisitions/{req.id}"
    managers = notices.announce(
        session, "requisition_overdue", key=escalation_key(req.id, "managers"), clock=clock, link=link,
        subject=lambda loc: translate(loc, N_("Overdue requisition %(code)s escalated: %(title)s"), code=req.code,
                                      title=req.title),
        body=_body(req, days, N_("This requisition is past its due date and is escalated to you.")),
        roles=ESCALATED_ROLES, department_id=req.assigned_department_id)
    told = {n.user_id for n in managers}
    requester = notices.announce(
        session, "requisition_overdue", key=escalation_key(req.id, "requester"), clock=clock, link=link,
        subject=lambda loc: translate(loc, N_("Your requisition %(code)s is overdue: %(title)s"), code=req.code,
                                      title=req.title),
        body=_body(req, days, N_("Your requisition is past its due date; the assigned department's managers "
                                 "were told.")),
        users=(req.requested_by_id,), exclude=told)
    return Escalated(req.id, req.code, days, len(managers), len(requester))


def escalate_overdue(session: Session, *, clock: Clock) -> list[Escalated]:
    """Escalate every requisition that went past its due date unfinished, once; return them."""
    # A broad first cut on the UTC date (no site is more than a day away); each row is then
    # judged on its own site's date.
    horizon = (utc_now(clock) + timedelta(days=1)).date()
    stmt = (select(Requisition).where(Requisition.status.in_(OWED_STATES), Requisition.escalated_at.is_(None),
                                      Requisition.due_on < horizon)
            .order_by(Requisition.due_on, Requisition.id))
    out = []
    for req in session.scalars(stmt).all():
        day = today(session, clock, req.assigned_department_id)
        if day <= req.due_on:
            continue
        with session.begin_nested():
            done = _escalate(session, req, (day - req.due_on).days, clock)
        if done is not None:
            out.append(done)
    return out
