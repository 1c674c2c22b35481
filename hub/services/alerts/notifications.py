"""Notifications about alerts, as the rules engine writes them to the outbox and the notifiers
read them back: what a notification says (independent of how it travels), and what the rules
engine may ask of whoever delivers them.

The rules engine writes ``notification_outbox`` rows in the transaction that changes the
alert; a delivery service (:class:`wardlink.hub.notify.dispatcher.Dispatcher`) sends them afterwards.
The engine receives that service as a :class:`Deliveries` and never imports it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Mapping, Protocol

from wardlink.hub.db import units
from wardlink.hub.services.people import local_time


class DeliveryReport(Protocol):
    """What one delivery pass did."""

    sent: int
    retried: int
    failed: int


class Deliveries(Protocol):
    """The notification targets the rules engine may queue for, and their delivery."""

    #: target name -> its notifier
    notifiers: Mapping[str, Any]

    def wants(self, target: str, event: str) -> bool:
        """Return True when ``target`` exists and reports ``event``."""

    def kick(self) -> None:
        """Deliver what the outbox holds soon (new rows were committed)."""

    def run_pending(self) -> DeliveryReport:
        """Deliver the due outbox rows now and say how it went."""

#: Subject line opening per event.
_HEADLINE = {
    "opened": "{severity}",
    "historical": "Historical ({severity}, from late data)",
    "escalated": "Escalated, unacknowledged ({severity})",
    "acknowledged": "Acknowledged",
    "shelved": "Shelved",
    "resolved": "Resolved",
}


@dataclass(frozen=True)
class Notification:
    """One event in an alert's life, with everything a receiver needs to act on it."""

    event: str  # opened, historical, escalated, acknowledged, shelved, resolved
    alert_id: int
    rule: str
    severity: str
    state: str
    title: str
    detail: str = ""
    asset: str | None = None
    asset_name: str | None = None
    ward: str | None = None
    gateway: str | None = None
    channel: str | None = None
    value: float | None = None
    historical: bool = False
    promoted: bool = False  # a historical alert that live data has now confirmed
    condition_since: str | None = None  # ISO 8601 UTC
    opened_at: str | None = None
    escalation_level: int = 0
    note: str = ""  # what a person wrote when acknowledging, shelving or resolving
    by: str | None = None  # who did it (username), or "rules" for automatic changes
    url: str | None = None
    site: str = "Wardlink"
    issued_ms: int | None = None  # when the event happened at the hub (epoch ms)
    unit: str | None = None  # the channel's stored unit code; the text shows its display form
    metric: str | None = None  # what the channel measures (names a digital level: door -> Open)
    timezone: str | None = None  # the site's IANA zone; the text shows local times in it

    def _value_text(self) -> str | None:
        if self.value is None:
            return None
        if self.unit is None:
            return f"{self.value:.6g}"
        return units.display(self.value, self.unit, self.metric)

    def _time_text(self, iso: str | None) -> str | None:
        if not iso or not self.timezone:
            return iso
        try:
            return local_time.local_text(datetime.fromisoformat(iso), local_time.zone_named(self.timezone))
        except ValueError:
            return iso

    def to_payload(self) -> dict[str, Any]:
        """Return the JSON-ready form stored in the outbox and posted to webhooks."""
        return {"v": 1, **asdict(self)}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Notification:
        """Rebuild a notification from :meth:`to_payload` output, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in names})

    @property
    def subject(self) -> str:
        """Return a one-line subject: site, what happened and the alert title."""
        head = _HEADLINE.get(self.event, self.event).format(severity=self.severity.upper())
        return f"[{self.site}] {head}: {self.title}"[:250]

    def text(self) -> str:
        """Return a plain-text body listing the alert's facts."""
        lines = [self.title, ""]
        if self.detail:
            lines += [self.detail, ""]
        facts = [
            ("Event", self.event + (" (confirmed by live data)" if self.promoted else "")),
            ("Severity", self.severity), ("State", self.state),
            ("Asset", " ".join(p for p in (self.asset, self.asset_name) if p) or None),
            ("Ward", self.ward), ("Gateway", self.gateway), ("Channel", self.channel),
            ("Value", self._value_text()),
            ("Condition since", self._time_text(self.condition_since)), ("Opened", self._time_text(self.opened_at)),
            ("Escalation level", self.escalation_level or None),
            ("By", self.by), ("Note", self.note or None), ("Rule", self.rule),
            ("Alert", f"#{self.alert_id}"), ("Link", self.url),
        ]
        width = max(len(k) for k, _ in facts)
        lines += [f"{k + ':':<{width + 1}} {v}" for k, v in facts if v not in (None, "")]
        if self.historical:
            lines += ["", "This condition was found in data that reached the hub late (replayed "
                          "after an outage). It is reported for the record, not as a live emergency."]
        return "\n".join(lines) + "\n"
