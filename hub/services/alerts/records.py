"""Alerts: raised by rules, acknowledged and resolved by people, never deleted."""

from __future__ import annotations

import math

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Alert, Asset
from wardlink.hub.db.models.rules import Rule
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import ALERT_SEVERITIES, ALERT_STATES
from wardlink.hub.errors import InvalidInput, Message, NotFound, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import find_asset
from wardlink.hub.services.gateways.registry import find_gateway
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.validate import choice, text
from wardlink.clock import Clock

#: action -> (permission, states it may start from, state it leads to)
TRANSITIONS = {
    "acknowledge": ("alert.acknowledge", frozenset({"open"}), "acknowledged"),
    "resolve": ("alert.resolve", frozenset({"open", "acknowledged"}), "resolved"),
}
NOTE = text(2000)


def alert_snapshot(alert: Alert) -> dict:
    """Return the audited fields of an alert."""
    return {"rule": alert.rule, "severity": alert.severity, "state": alert.state,
            "title": alert.title, "asset": alert.asset.tag if alert.asset else None,
            "gateway": alert.gateway.gateway_id if alert.gateway else None,
            "channel": alert.channel, "value": alert.value}


def raise_alert(session: Session, *, rule: str, severity: str, title: str, detail: str = "",
                asset_tag: str | None = None, gateway_id: str | None = None,
                channel: str | None = None, value: float | None = None,
                actor: Actor | None, clock: Clock | None = None,
                title_message: Message | None = None, detail_message: list[Message] | None = None) -> Alert:
    """Open a new alert and return it; ``title_message`` and ``detail_message`` (one message a
    line) say the English ``title`` and ``detail`` as templates a page writes in the reader's
    language."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "alert.raise")
    choice(ALERT_SEVERITIES)("severity", severity)
    asset = gateway = None
    if asset_tag is not None:
        asset = find_asset(session, asset_tag)
        if asset is None:
            raise InvalidInput(N_("asset_tag: no asset '%(asset_tag)s'"), asset_tag=asset_tag)
    if gateway_id is not None:
        gateway = find_gateway(session, gateway_id)
        if gateway is None:
            raise InvalidInput(N_("gateway_id: no gateway '%(gateway_id)s'"), gateway_id=gateway_id)
    if value is not None and not math.isfinite(value):
        raise InvalidInput(N_("value: must be a finite number, got %(value)r"), value=value)
    alert = Alert(rule=text(128, required=True)("rule", rule), severity=severity, state="open",
                  title=text(300, required=True)("title", title), detail=text(5000)("detail", detail),
                  asset=asset, gateway=gateway, channel=channel, value=value,
                  opened_at=utc_now(clock),
                  title_message=title_message.to_json() if title_message is not None else None,
                  detail_message=[m.to_json() for m in detail_message] if detail_message is not None else None)
    session.add(alert)
    session.flush()
    audit.record(session, actor=who, action="alert.open", entity="alert", entity_id=alert.id,
                 after=alert_snapshot(alert), clock=clock)
    return alert


def title_of(alert: Alert) -> Message | str:
    """Return an alert's title as a message to write in the reader's language (its stored
    English text when the alert has none: a rule's own title, an older alert)."""
    return Message.from_json(alert.title_message) or alert.title


def detail_of(alert: Alert) -> list[Message | str]:
    """Return an alert's detail, one message a line (its English lines when it has none)."""
    lines = [Message.from_json(line) for line in alert.detail_message or ()]
    if alert.detail_message and all(line is not None for line in lines):
        return [line for line in lines if line is not None]
    return alert.detail.splitlines() if alert.detail else []


def resolution_of(alert: Alert) -> Message | str:
    """Return how an alert was resolved as a message (the note as written when it has none)."""
    return Message.from_json(alert.resolution_message) or alert.resolution_note


def scoped(stmt, who: Actor):
    """Limit an alert query to the alerts ``who`` may see (those of their department's assets)."""
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.join(Asset, Alert.asset_id == Asset.id).where(Asset.department_id == scope)
    return stmt


def list_alerts(session: Session, *, actor: Actor | None, state: str | None = None,
                severity: str | None = None, asset_tag: str | None = None, page: int = 1,
                per_page: int = 50) -> Page[Alert]:
    """Return one page of alerts, unresolved and newest first; ``state='active'`` = unresolved."""
    who = resolve_actor(actor)
    require(who, "alert.view")
    stmt = select(Alert).options(selectinload(Alert.asset), selectinload(Alert.gateway))
    stmt = scoped(stmt, who)
    if state == "active":
        stmt = stmt.where(Alert.state != "resolved")
    elif state:
        stmt = stmt.where(Alert.state == choice(ALERT_STATES)("state", state))
    if severity:
        stmt = stmt.where(Alert.severity == choice(ALERT_SEVERITIES)("severity", severity))
    if asset_tag:
        asset = find_asset(session, asset_tag)
        stmt = stmt.where(Alert.asset_id == (asset.id if asset else -1))
    stmt = stmt.order_by((Alert.state == "resolved").asc(), Alert.opened_at.desc(), Alert.id.desc())
    return paginate(session, stmt, page, per_page)


def get_alert(session: Session, alert_id: int, *, actor: Actor | None) -> Alert:
    """Return an alert or raise :class:`NotFound`."""
    who = resolve_actor(actor)
    require(who, "alert.view")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(N_("alert %(alert_id)s does not exist"), alert_id=alert_id)
    require_department(who, alert.asset.department_id if alert.asset else None,
                       Message(N_("alert %(alert_id)s"), alert_id=alert_id))
    return alert


def _transition(session: Session, alert_id: int, action: str, note: str, who: Actor,
                clock: Clock) -> Alert:
    permission, sources, target = TRANSITIONS[action]
    require(who, permission)
    alert = get_alert(session, alert_id, actor=who)
    if alert.state not in sources:
        raise InvalidInput(N_("state: alert %(alert_id)s is %(state)s; only %(choices)s alerts can be %(target)s"),
                           alert_id=alert_id, state=Term(alert.state), choices=' or '.join(sorted(sources)),
                           target=Term(target))
    now, before = utc_now(clock), alert.state
    if action == "acknowledge":
        alert.acknowledged_at, alert.acknowledged_by_id, alert.ack_note = now, who.user_id, note
    else:
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by_id = now, who.user_id
        alert.resolved_at, alert.resolved_by_id, alert.resolution_note = now, who.user_id, note
    alert.state = target
    session.flush()
    audit.record(session, actor=who, action=f"alert.{action}", entity="alert", entity_id=alert.id,
                 before={"state": before}, after={"state": target, "note": note}, clock=clock)
    return alert


def acknowledge(session: Session, alert_id: int, *, note: str = "", actor: Actor | None,
                clock: Clock | None = None) -> Alert:
    """Mark an open alert as seen by the actor, with an optional note."""
    return _transition(session, alert_id, "acknowledge", NOTE("note", note),
                       resolve_actor(actor), resolve_clock(clock))


def resolve(session: Session, alert_id: int, *, note: str, actor: Actor | None,
            clock: Clock | None = None, note_message: Message | None = None) -> Alert:
    """Close an alert with a note saying what was done (required); ``note_message`` says the
    English ``note`` as a template a page writes in the reader's language (a service's own note)."""
    note = NOTE("note", note)
    if not note:
        raise InvalidInput(N_("note: is required when resolving an alert (say what was done)"))
    alert = _transition(session, alert_id, "resolve", note, resolve_actor(actor), resolve_clock(clock))
    alert.resolution_message = note_message.to_json() if note_message is not None else None
    return alert


def open_counts(session: Session, *, actor: Actor | None) -> dict[str, int]:
    """Return how many unresolved alerts there are per severity."""
    who = resolve_actor(actor)
    require(who, "alert.view")
    stmt = scoped(select(Alert.severity, func.count()).where(Alert.state != "resolved"), who)
    counts = {key: n for key, n in session.execute(stmt.group_by(Alert.severity))}
    return {severity: counts.get(severity, 0) for severity in ALERT_SEVERITIES}


def rule_overview(session: Session, *, actor: Actor | None) -> tuple[list[Rule], dict[str, int]]:
    """Return the rules the engine runs (enabled first, by name) and how many unresolved alerts
    each has raised."""
    require(resolve_actor(actor), "alert.view")
    rules = list(session.scalars(select(Rule).order_by(Rule.enabled.desc(), Rule.name)))
    counts = dict(session.execute(
        select(Alert.rule, func.count()).where(Alert.state != "resolved").group_by(Alert.rule)).all())
    return rules, counts
