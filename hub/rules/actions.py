"""Apply evaluator actions to the relational store, inside the engine's transaction.

- ``Raise``: open an alert for (rule, subject) unless one is open; a live raise over an open
  *historical* alert promotes it (live data confirmed the condition); a rule with
  ``work_order`` also opens a corrective work order.
- ``Clear``: resolve the subject's open alert automatically, unless another channel of the
  same subject still holds the condition; a backfill clear resolves only the historical alert
  the backfill itself opened.
- ``RunTime``: add running time to the asset's meter.
- ``Replay``: the episodes found in a hole of a channel's live stream once late readings
  filled it (:mod:`wardlink.hub.rules.episodes`): one alert per episode, keyed by its start.

An alert's identity is (rule, subject, episode start on the readings' clock): an episode
that already has an alert never gets a second one, even from another worker.

Every change is audited as the ``rules`` actor and queues notifications in the outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Alert, WorkOrder
from wardlink.hub.db.models.rules import AlertLifecycle, AssetMeter, NotificationOutbox, RuleState
from wardlink.hub.db.types import from_ms, utc_now
from wardlink.hub.errors import Message, Moment
from wardlink.hub.i18n import N_
from wardlink.hub.rules import episodes
from wardlink.hub.rules.episodes import CLEARED, CLEARED_LATE
from wardlink.hub.rules.catalog import Catalog
from wardlink.hub.rules.evaluators.base import Clear, Raise, RunTime
from wardlink.hub.rules.tracks import BACKFILL, Replay, Routed
from wardlink.hub.services.alerts import records as alert_service
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.alerts.notifications import Deliveries, Notification
from wardlink.hub.services.people import language, local_time
from wardlink.clock import Clock

log = logging.getLogger(__name__)

HISTORICAL_PREFIX = "Historical: "
#: The title of an alert raised from late data (the English text starts with the prefix).
HISTORICAL = N_("Historical: %(title)s")


@dataclass(frozen=True, slots=True)
class Subject:
    """What a rule's alerts are about: an asset, a gateway, or an unbound channel."""

    key: str  # asset:TAG, gateway:ID or channel:GW/CH; one open alert per rule and key
    label: str
    asset: str | None = None
    gateway: str | None = None
    channel: str | None = None


@dataclass
class Outcome:
    """What one engine call did."""

    evaluated: int = 0  # inputs applied to a rule
    duplicates: int = 0  # readings already seen (re-delivery), ignored
    opened: int = 0
    historical: int = 0  # of the opened alerts, how many from late or replayed data
    promoted: int = 0
    resolved: int = 0
    escalated: int = 0
    work_orders: int = 0
    notifications: int = 0
    run_seconds: float = 0.0
    errors: int = 0


class Outbox:
    """Queue notifications for the targets that report an event."""

    def __init__(self, dispatcher: Deliveries | None, *, public_url: str = "", site: str = "Wardlink") -> None:
        self.dispatcher = dispatcher
        self.public_url = public_url.rstrip("/")
        self.site = site

    def queue(self, session: Session, catalog: Catalog, alert: Alert, lc: AlertLifecycle | None, event: str,
              targets: Iterable[str], now: datetime, *, promoted: bool = False, note: str = "",
              by: str | None = None, note_message: dict[str, Any] | None = None) -> int:
        """Write one outbox row per target that wants ``event``; return how many."""
        if self.dispatcher is None:
            return 0
        wanted = [t for t in dict.fromkeys(targets) if self.dispatcher.wants(t, event)]
        if not wanted:
            return 0
        asset = catalog.assets_by_id.get(alert.asset_id) if alert.asset_id else None
        gateway_info = catalog.gateways_by_pk.get(alert.gateway_pk) if alert.gateway_pk else None
        gateway = gateway_info.gateway_id if gateway_info else None
        channel_info = catalog.channel(gateway, alert.channel) if gateway and alert.channel else None
        zone = local_time.department_zone(session, asset.department_id) if asset else None
        note_obj = Notification(
            event=event, alert_id=alert.id, rule=alert.rule, severity=alert.severity, state=alert.state,
            title=alert.title, detail=alert.detail, asset=asset.tag if asset else None,
            asset_name=asset.name if asset else None, ward=asset.ward if asset else None,
            gateway=gateway, channel=alert.channel, value=alert.value,
            historical=bool(lc and lc.historical), promoted=promoted,
            condition_since=lc.condition_since.isoformat() if lc and lc.condition_since else None,
            opened_at=alert.opened_at.isoformat() if alert.opened_at else None,
            escalation_level=lc.escalation_level if lc else 0, note=note, by=by,
            url=f"{self.public_url}/alerts" if self.public_url else None, site=self.site,
            issued_ms=round(now.timestamp() * 1000),
            unit=channel_info.unit if channel_info else None,
            metric=(channel_info.measurement or channel_info.metric) if channel_info else None,
            timezone=zone.key if zone is not None else None,
            language=(language.department_language(session, asset.department_id) if asset else None)
            or language.hospital_language(session),
            title_message=alert.title_message, detail_message=alert.detail_message, note_message=note_message)
        payload = note_obj.to_payload()
        for target in wanted:
            session.add(NotificationOutbox(alert_id=alert.id, target=target, event=event, payload=payload,
                                           state="pending", attempts=0, next_attempt_at=now, last_error="",
                                           created_at=now))
        return len(wanted)


def _render_title(template: str, fields: dict[str, Any]) -> str:
    class _Keep(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"
    try:
        return template.format_map(_Keep(fields))
    except (ValueError, IndexError, AttributeError):
        return template  # a malformed template shows as written rather than losing the alert


class Applier:
    """Turn routed actions of one rule into alerts, work orders, meters and notifications."""

    def __init__(self, session: Session, *, catalog: Catalog, outbox: Outbox, clock: Clock, actor: Actor,
                 outcome: Outcome) -> None:
        self.session = session
        self.catalog = catalog
        self.outbox = outbox
        self.clock = clock
        self.actor = actor
        self.outcome = outcome
        self.now = utc_now(clock)

    # -------------------------------------------------------------- lookups

    def current(self, rule_id: int, subject_key: str) -> tuple[AlertLifecycle, Alert] | None:
        """Return the unresolved alert of (rule, subject), forgetting one a person resolved."""
        row = self.session.execute(
            select(AlertLifecycle, Alert).join(Alert, Alert.id == AlertLifecycle.alert_id)
            .where(AlertLifecycle.rule_id == rule_id, AlertLifecycle.open_key == subject_key)).first()
        if row is None:
            return None
        lc, alert = row
        if alert.state == "resolved":
            lc.open_key = None  # resolved by a person: the rule re-arms
            self.session.flush()
            return None
        return lc, alert

    # -------------------------------------------------------------- dispatch

    def apply(self, rule: Any, subject: Subject, routed: Routed, doc: dict | None = None,
              state_key: str | None = None) -> None:
        """Apply one routed action."""
        action = routed.action
        if isinstance(action, Raise):
            self.raise_(rule, subject, action, routed, doc)
        elif isinstance(action, Clear):
            self.clear(rule, subject, action, routed, doc, state_key)
        elif isinstance(action, RunTime):
            self.run_time(rule, subject, action)
        elif isinstance(action, Replay):
            episodes.reconcile(self, rule, subject, action, doc, state_key)

    def episode(self, rule_id: int, subject_key: str, since_ms: int) -> tuple[AlertLifecycle, Alert] | None:
        """Return the alert of the episode of (rule, subject) that began at ``since_ms``, if any."""
        row = self.session.execute(
            select(AlertLifecycle, Alert).join(Alert, Alert.id == AlertLifecycle.alert_id)
            .where(AlertLifecycle.rule_id == rule_id, AlertLifecycle.subject == subject_key,
                   AlertLifecycle.episode_ms == since_ms)).first()
        return None if row is None else (row[0], row[1])

    # -------------------------------------------------------------- raise

    def raise_(self, rule: Any, subject: Subject, action: Raise, routed: Routed, doc: dict | None) -> None:
        """Open, keep or promote the subject's alert."""
        if not rule.evaluator.raises:
            return
        found = self.current(rule.id, subject.key)
        if found is not None:
            lc, alert = found
            if lc.historical and not routed.historical:
                self.promote(rule, lc, alert, action)
                if doc is not None and doc.get("bf") and doc["bf"].get("alert") == alert.id:
                    doc["bf"]["alert"] = None  # now the live alert; backfill must not resolve it
            if doc is not None and not routed.historical:
                doc["hist"] = False
            return
        if self.episode(rule.id, subject.key, action.since_ms) is not None:
            return  # this episode has its alert already (a person resolved it, or a replay found it)
        opened = self.open(rule, subject, action, routed.historical)
        if opened is None:
            return
        alert, lc = opened
        if doc is not None:
            if routed.track == BACKFILL:
                doc["bf"]["alert"] = alert.id
            else:
                doc["hist"] = routed.historical

    def open(self, rule: Any, subject: Subject, action: Raise, historical: bool, *,
             ongoing: bool = True) -> tuple[Alert, AlertLifecycle] | None:
        """Open a new alert (and its work order) for ``subject``; None if its episode has one.

        ``ongoing=False`` opens the alert of an episode that is over (found in late data), which
        does not hold the subject's one open slot; the caller resolves it at once.
        """
        try:
            with self.session.begin_nested():
                return self._open(rule, subject, action, historical, ongoing)
        except IntegrityError:
            # Another worker opened the alert of this episode (or the subject's open slot) first.
            log.info("alert of %s for %s since %s opened elsewhere", rule.name, subject.key, action.since_ms)
            return None

    def _open(self, rule: Any, subject: Subject, action: Raise, historical: bool,
              ongoing: bool) -> tuple[Alert, AlertLifecycle]:
        asset = self.catalog.asset(subject.asset)
        gateway_known = subject.gateway in self.catalog.gateways
        fields = {"asset": subject.asset or "", "gateway": subject.gateway or "", "channel": subject.channel or "",
                  "subject": subject.label, "rule": rule.name, "message": action.message,
                  "value": "" if action.value is None else f"{action.value:.4g}"}
        # A rule's own title is its author's words, kept as written; the engine's says the message.
        said = None if rule.title else Message(N_("%(subject)s: %(message)s"), subject=subject.label,
                                               message=action.said)
        if historical and said is not None:
            said = Message(HISTORICAL, title=said)
        title = str(said) if said is not None else _render_title(rule.title, fields)
        if historical and said is None:
            title = HISTORICAL_PREFIX + title
        since, at = from_ms(action.since_ms), from_ms(action.at_ms)
        detail = [action.said, Message(N_("Condition since %(since)s; decided at %(at)s."),
                                       since=Moment(since.isoformat()), at=Moment(at.isoformat())),
                  Message(N_("Rule %(rule)s (%(kind)s)."), rule=rule.name, kind=rule.kind)]
        if historical:
            detail.append(Message(N_("Found in data that reached the hub late (replayed after an outage): "
                                     "recorded for review, not a live emergency.")))
        alert = alert_service.raise_alert(
            self.session, rule=rule.name, severity=rule.severity, title=title[:300],
            detail="\n".join(str(line) for line in detail),
            asset_tag=asset.tag if asset else None, gateway_id=subject.gateway if gateway_known else None,
            channel=subject.channel, value=action.value, actor=self.actor, clock=self.clock,
            title_message=said if said is not None and len(title) <= 300 else None, detail_message=detail)
        lc = AlertLifecycle(alert_id=alert.id, rule_id=rule.id, subject=subject.key,
                            open_key=subject.key if ongoing else None, episode_ms=action.since_ms,
                            historical=historical, condition_since=since, escalation_level=0,
                            ack_notified=False, shelve_notified=True, shelve_note="", updated_at=self.now)
        self.session.add(lc)
        self.session.flush()
        self.outcome.opened += 1
        self.outcome.historical += int(historical)
        if rule.work_order is not None:
            self.work_order(rule, alert, lc, asset)
        self.outcome.notifications += self.outbox.queue(
            self.session, self.catalog, alert, lc, "historical" if historical else "opened", rule.notify, self.now,
            by=self.actor.username)
        log.info("alert %d opened by %s for %s%s: %s", alert.id, rule.name, subject.key,
                 " (historical)" if historical else "", action.message)
        return alert, lc

    def promote(self, rule: Any, lc: AlertLifecycle, alert: Alert, action: Raise) -> None:
        """Turn a historical alert into a live one: live data shows the condition holds now."""
        lc.historical = False
        lc.updated_at = self.now
        if alert.title.startswith(HISTORICAL_PREFIX):
            alert.title = alert.title[len(HISTORICAL_PREFIX):]
        said = Message.from_json(alert.title_message)
        if said is not None and said.template == HISTORICAL and isinstance(said.values.get("title"), Message):
            alert.title_message = said.values["title"].to_json()
        confirmed = Message(N_("Confirmed by live data at %(at)s: %(message)s"),
                            at=Moment(from_ms(action.at_ms).isoformat()), message=action.said)
        alert.detail = (alert.detail + f"\n{confirmed}")[:5000]
        if alert.detail_message is not None:
            alert.detail_message = [*alert.detail_message, confirmed.to_json()]
        alert.value = action.value
        self.session.flush()
        audit.record(self.session, actor=self.actor, action="alert.promote", entity="alert", entity_id=alert.id,
                     before={"historical": True}, after={"historical": False}, clock=self.clock)
        self.outcome.promoted += 1
        self.outcome.notifications += self.outbox.queue(self.session, self.catalog, alert, lc, "opened",
                                                        rule.notify, self.now, promoted=True,
                                                        by=self.actor.username)

    def work_order(self, rule: Any, alert: Alert, lc: AlertLifecycle, asset: Any) -> WorkOrder:
        """Open a corrective work order for ``alert``."""
        spec = rule.work_order
        title = (_render_title(spec["title"], {"asset": asset.tag if asset else "", "rule": rule.name,
                                               "alert": alert.title})
                 if spec.get("title") else f"Corrective: {alert.title}")
        order = workorders.open_for_alert(self.session, alert, title=title, description=alert.detail,
                                          priority=spec.get("priority", "medium"),
                                          started_at=lc.condition_since or alert.opened_at, actor=self.actor,
                                          clock=self.clock)
        lc.work_order_id = order.id
        self.outcome.work_orders += 1
        return order

    # -------------------------------------------------------------- clear

    def others_active(self, rule_id: int, subject_key: str, state_key: str | None) -> bool:
        """Return True when another key of the same rule and subject still holds the condition."""
        stmt = select(RuleState.key).where(RuleState.rule_id == rule_id, RuleState.subject == subject_key,
                                           RuleState.active.is_(True))
        if state_key is not None:
            stmt = stmt.where(RuleState.key != state_key)
        return self.session.execute(stmt.limit(1)).first() is not None

    def clear(self, rule: Any, subject: Subject, action: Clear, routed: Routed, doc: dict | None,
              state_key: str | None) -> None:
        """Resolve the subject's alert when nothing holds the condition any more."""
        if not rule.evaluator.raises:
            return
        if doc is not None and routed.track != BACKFILL:
            doc["hist"] = False
        found = self.current(rule.id, subject.key)
        if found is None:
            return
        lc, alert = found
        if routed.track == BACKFILL:
            if doc is None or not doc.get("bf") or doc["bf"].get("alert") != alert.id:
                return  # the open alert is not the one this replay raised
            doc["bf"]["alert"] = None
        elif self.others_active(rule.id, subject.key, state_key):
            return
        lc.episode_end_ms = action.at_ms
        said = Message(CLEARED_LATE if routed.historical else CLEARED,
                       at=Moment(from_ms(action.at_ms).isoformat()), message=action.said)
        self.resolve(rule, lc, alert, said)
        if rule.work_order and rule.work_order.get("auto_close") and lc.work_order_id is not None:
            workorders.close_when_cleared(self.session, lc.work_order_id, cleared_at=from_ms(action.at_ms),
                                          actor=self.actor, clock=self.clock)

    def resolve(self, rule: Any, lc: AlertLifecycle, alert: Alert, note: Message) -> None:
        """Resolve ``alert`` as the rules actor (not acknowledged by anyone) and notify."""
        before = alert.state
        alert.state = "resolved"
        alert.resolved_at = self.now
        alert.resolution_note = str(note)[:2000]
        alert.resolution_message = note.to_json() if len(str(note)) <= 2000 else None
        lc.open_key = None
        lc.updated_at = self.now
        self.session.flush()
        audit.record(self.session, actor=self.actor, action="alert.resolve", entity="alert", entity_id=alert.id,
                     before={"state": before}, after={"state": "resolved", "note": alert.resolution_note,
                                                      "automatic": True}, clock=self.clock)
        self.outcome.resolved += 1
        targets = rule.notify if rule is not None else ()
        self.outcome.notifications += self.outbox.queue(self.session, self.catalog, alert, lc, "resolved", targets,
                                                        self.now, note=alert.resolution_note,
                                                        by=self.actor.username,
                                                        note_message=alert.resolution_message)
        log.info("alert %d resolved automatically: %s", alert.id, note)

    # -------------------------------------------------------------- meters

    def run_time(self, rule: Any, subject: Subject, action: RunTime) -> None:
        """Add running time to the subject asset's meter."""
        asset = self.catalog.asset(subject.asset)
        if asset is None:
            return  # an unbound channel has no asset to meter
        meter_name = rule.evaluator.meter
        meter = self.session.get(AssetMeter, (asset.id, meter_name), with_for_update=True)
        if meter is None:
            meter = AssetMeter(asset_id=asset.id, meter=meter_name, seconds=0.0, updated_at=self.now)
            self.session.add(meter)
        meter.seconds = (meter.seconds or 0.0) + action.seconds
        meter.last_ts_ms = max(meter.last_ts_ms or 0, action.until_ms)
        meter.updated_at = self.now
        self.outcome.run_seconds += action.seconds

