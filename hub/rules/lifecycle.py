"""Alert life beyond open and resolve: shelving, escalation, and following what people did.

People acknowledge and resolve alerts through :mod:`wardlink.hub.services.alerts.records` (web UI, API,
console). The engine's tick notices those changes here (:func:`reconcile`) and sends the
notifications they call for, e.g. silencing the gateway's buzzer once someone acknowledged;
so it does not matter which path made the change.

- Shelving (:func:`shelve`) hides an unresolved alert from escalation until a given time,
  with a required note ("compressor being replaced, back at 14:00"). It never resolves it.
- Escalation (:func:`escalate`): a rule's ``escalate`` steps fire in order when the alert is
  still *open* (unacknowledged) that many seconds after opening (or after its shelving
  ended); each step notifies its own targets and may raise the alert's severity.
- Settling (:func:`settle`): a historical alert raised from replayed data whose replay ended
  without a clearing reading, while live readings are normal, is resolved after ``settle_s``.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Alert, User
from wardlink.hub.db.models.rules import AlertLifecycle, RuleState
from wardlink.hub.db.types import to_ms, utc_now
from wardlink.hub.db.vocab import ALERT_SEVERITIES
from wardlink.hub.errors import InvalidInput, Message
from wardlink.hub.i18n import N_
from wardlink.hub.services.alerts import records as alert_service
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import text
from wardlink.clock import Clock

#: Longest an alert may be shelved in one go; a longer problem needs a work order, not silence.
MAX_SHELVE = timedelta(days=7)
_RANK = {severity: i for i, severity in enumerate(ALERT_SEVERITIES)}


# --------------------------------------------------------------------------- people's actions


def get_lifecycle(session: Session, alert_id: int) -> AlertLifecycle | None:
    """Return the lifecycle facts of an alert (rule, historical, shelving, escalation), or None."""
    return session.get(AlertLifecycle, alert_id)


def is_shelved(lc: AlertLifecycle | None, now: datetime) -> bool:
    """Return True while ``lc`` is shelved at ``now``."""
    return lc is not None and lc.shelved_until is not None and lc.shelved_until > now


def _lifecycle_for(session: Session, alert: Alert, now: datetime) -> AlertLifecycle:
    lc = session.get(AlertLifecycle, alert.id)
    if lc is None:  # an alert raised by a person or another service
        lc = AlertLifecycle(alert_id=alert.id, historical=False, escalation_level=0, ack_notified=True,
                            shelve_notified=True, shelve_note="", updated_at=now)
        session.add(lc)
    return lc


def shelve(session: Session, alert_id: int, *, until: datetime, note: str, actor: Actor | None,
           clock: Clock | None = None) -> AlertLifecycle:
    """Shelve an unresolved alert until ``until`` (aware datetime) with a note saying why."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "alert.acknowledge")
    alert = alert_service.get_alert(session, alert_id, actor=who)
    if alert.state == "resolved":
        raise InvalidInput(f"state: alert {alert_id} is resolved; only unresolved alerts can be shelved")
    if not isinstance(until, datetime) or until.tzinfo is None:
        raise InvalidInput(f"until: must be a date and time with a time zone, got {until!r}")
    now = utc_now(clock)
    if until <= now:
        raise InvalidInput(f"until: must be in the future, got {until.isoformat()}")
    if until - now > MAX_SHELVE:
        raise InvalidInput(f"until: at most {MAX_SHELVE.days} days ahead; open a work order for longer problems")
    note = text(2000, required=True)("note", note)
    lc = _lifecycle_for(session, alert, now)
    before = lc.shelved_until.isoformat() if lc.shelved_until else None
    lc.shelved_until, lc.shelved_by_id, lc.shelve_note = until, who.user_id, note
    lc.shelve_notified = False
    lc.updated_at = now
    session.flush()
    audit.record(session, actor=who, action="alert.shelve", entity="alert", entity_id=alert_id,
                 before={"shelved_until": before}, after={"shelved_until": until.isoformat(), "note": note},
                 clock=clock)
    return lc


def unshelve(session: Session, alert_id: int, *, actor: Actor | None, clock: Clock | None = None) -> AlertLifecycle:
    """End an alert's shelving now."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "alert.acknowledge")
    alert = alert_service.get_alert(session, alert_id, actor=who)
    now = utc_now(clock)
    lc = session.get(AlertLifecycle, alert.id)
    if not is_shelved(lc, now):
        raise InvalidInput(f"state: alert {alert_id} is not shelved")
    before = lc.shelved_until.isoformat()
    lc.shelved_until, lc.updated_at = now, now
    session.flush()
    audit.record(session, actor=who, action="alert.unshelve", entity="alert", entity_id=alert_id,
                 before={"shelved_until": before}, after={"shelved_until": now.isoformat()}, clock=clock)
    return lc


# --------------------------------------------------------------------------- tick work


def _username(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id is not None else None
    return user.username if user is not None else None


def reconcile(session: Session, applier: Any, rules_by_id: Mapping[int, Any]) -> None:
    """Send notifications for acknowledgements, shelving and manual resolutions since the last tick."""
    rows = session.execute(
        select(AlertLifecycle, Alert).join(Alert, Alert.id == AlertLifecycle.alert_id).where(or_(
            and_(AlertLifecycle.open_key.is_not(None), Alert.state == "resolved"),
            and_(AlertLifecycle.ack_notified.is_(False), Alert.acknowledged_at.is_not(None)),
            AlertLifecycle.shelve_notified.is_(False),
        ))).all()
    outbox, now = applier.outbox, applier.now
    for lc, alert in rows:
        rule = rules_by_id.get(lc.rule_id)
        targets = rule.notify if rule is not None else ()
        queued = 0
        # The engine never acknowledges: an acknowledgement time means a person saw it.
        if not lc.ack_notified and alert.acknowledged_at is not None:
            lc.ack_notified = True
            queued += outbox.queue(session, applier.catalog, alert, lc, "acknowledged", targets, now,
                                   note=alert.ack_note, by=_username(session, alert.acknowledged_by_id))
        if not lc.shelve_notified:
            lc.shelve_notified = True
            if alert.state != "resolved":
                queued += outbox.queue(session, applier.catalog, alert, lc, "shelved", targets, now,
                                       note=lc.shelve_note, by=_username(session, lc.shelved_by_id))
        if lc.open_key is not None and alert.state == "resolved":
            lc.open_key = None  # resolved by a person: the rule re-arms for the next excursion
            queued += outbox.queue(session, applier.catalog, alert, lc, "resolved", targets, now,
                                   note=alert.resolution_note, by=_username(session, alert.resolved_by_id))
        lc.updated_at = now
        applier.outcome.notifications += queued
    session.flush()


def escalate(session: Session, applier: Any, rules_by_id: Mapping[int, Any]) -> None:
    """Fire the escalation steps that are due on unacknowledged, unshelved live alerts."""
    rule_ids = [r.id for r in rules_by_id.values() if r.escalate]
    if not rule_ids:
        return
    now = applier.now
    rows = session.execute(
        select(AlertLifecycle, Alert).join(Alert, Alert.id == AlertLifecycle.alert_id)
        .where(AlertLifecycle.rule_id.in_(rule_ids), Alert.state == "open",
               AlertLifecycle.historical.is_(False))).all()
    for lc, alert in rows:
        if is_shelved(lc, now):
            continue
        rule = rules_by_id[lc.rule_id]
        base = max(alert.opened_at, lc.shelved_until) if lc.shelved_until else alert.opened_at
        while lc.escalation_level < len(rule.escalate):
            step = rule.escalate[lc.escalation_level]
            if now < base + timedelta(seconds=step.after_s):
                break
            before = {"level": lc.escalation_level, "severity": alert.severity}
            lc.escalation_level += 1
            lc.escalated_at = lc.updated_at = now
            if step.severity is not None and _RANK[step.severity] > _RANK[alert.severity]:
                alert.severity = step.severity
            session.flush()
            audit.record(session, actor=applier.actor, action="alert.escalate", entity="alert", entity_id=alert.id,
                         before=before, after={"level": lc.escalation_level, "severity": alert.severity},
                         clock=applier.clock)
            applier.outcome.escalated += 1
            applier.outcome.notifications += applier.outbox.queue(
                session, applier.catalog, alert, lc, "escalated", step.notify, now, by=applier.actor.username)


def settle(session: Session, applier: Any, rules_by_id: Mapping[int, Any], settle_ms: int) -> None:
    """Resolve historical alerts whose replay ended long ago while live readings are normal."""
    rows = session.execute(
        select(AlertLifecycle, Alert).join(Alert, Alert.id == AlertLifecycle.alert_id)
        .where(AlertLifecycle.historical.is_(True), AlertLifecycle.open_key.is_not(None),
               Alert.state != "resolved")).all()
    now_ms = to_ms(applier.now)
    for lc, alert in rows:
        rule = rules_by_id.get(lc.rule_id)
        if rule is None:
            continue
        states = session.scalars(select(RuleState).where(RuleState.rule_id == lc.rule_id,
                                                         RuleState.subject == lc.subject)).all()
        if any(s.active for s in states):
            continue  # the live stream holds the condition: live data will clear it
        mine = [s for s in states if (s.data.get("bf") or {}).get("alert") == alert.id]
        touched = [s.data["bf"].get("touched_ms") or 0 for s in mine]
        reference = max(touched) if touched else to_ms(lc.updated_at)
        if now_ms - reference < settle_ms:
            continue
        applier.resolve(rule, lc, alert, Message(N_("Settled automatically: the replayed data ended without a "
                                                    "reading that clears the condition, and live readings do "
                                                    "not show it.")))
        for s in mine:
            data = copy.deepcopy(s.data)
            data["bf"]["alert"] = None
            s.data = data
    session.flush()
