"""Notifications about alerts, as the rules engine writes them to the outbox and the notifiers
read them back: what a notification says (independent of how it travels), and what the rules
engine may ask of whoever delivers them.

The rules engine writes ``notification_outbox`` rows in the transaction that changes the
alert; a delivery service (:class:`wardlink.hub.notify.dispatcher.Dispatcher`) sends them afterwards.
The engine receives that service as a :class:`Deliveries` and never imports it.

A notification is written for a reader in a language (:meth:`Notification.subject_in`,
:meth:`Notification.text`): an e-mail goes out in each recipient's language, decided by the
delivery side. ``language`` carries the language of the alert's site for recipients without an
account. The JSON posted to webhooks holds codes (event, severity, state), not words, whatever
the language: machine readers match codes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Mapping, Protocol

from wardlink.hub.db import units
from wardlink.hub.db.vocab import label
from wardlink.hub.errors import Message
from wardlink.hub.i18n import N_, format_datetime, format_decimal, translate
from wardlink.hub.services import messages
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
    "opened": "%(severity)s",
    "historical": N_("Historical (%(severity)s, from late data)"),
    "escalated": N_("Escalated, unacknowledged (%(severity)s)"),
    "acknowledged": N_("Acknowledged"),
    "shelved": N_("Shelved"),
    "resolved": N_("Resolved"),
}
#: What happened, as the body's first fact says it.
_EVENT_WORDS = {"opened": N_("opened"), "historical": N_("historical"), "escalated": N_("escalated"),
                "acknowledged": N_("acknowledged"), "shelved": N_("shelved"), "resolved": N_("resolved")}

#: The fields of a notification that hold messages for people, not sent to webhooks.
_MESSAGE_FIELDS = ("title_message", "detail_message", "note_message")


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
    language: str | None = None  # the language of the alert's site (None: none chosen)
    # What the rules engine said (``Message.to_json()``), written in each reader's language;
    # None: the English ``title``, ``detail`` and ``note`` are shown as they are.
    title_message: dict[str, Any] | None = None
    detail_message: list[Any] | None = None  # one message a line
    note_message: dict[str, Any] | None = None

    def _said(self, data: object, english: str, locale: str | None) -> str:
        message = Message.from_json(data)
        if message is None:
            return english
        zone = local_time.zone_named(self.timezone) if self.timezone else None
        return messages.render(message, locale, zone)

    def title_in(self, locale: str | None) -> str:
        """Return the alert's title in ``locale``."""
        return self._said(self.title_message, self.title, locale)

    def detail_in(self, locale: str | None) -> str:
        """Return the alert's detail in ``locale``, one line a message."""
        lines = self.detail_message
        if not lines or not all(Message.from_json(line) is not None for line in lines):
            return self.detail
        return "\n".join(self._said(line, "", locale) for line in lines)

    def _value_text(self, locale: str | None) -> str | None:
        if self.value is None:
            return None
        text = f"{self.value:.6g}" if self.unit is None else units.display(self.value, self.unit, self.metric)
        number, space, unit = text.partition(" ")
        return format_decimal(number, locale) + space + unit

    def _time_text(self, iso: str | None, locale: str | None) -> str | None:
        if not iso or not self.timezone:
            return iso
        try:
            return format_datetime(datetime.fromisoformat(iso), local_time.zone_named(self.timezone), locale)
        except ValueError:
            return iso

    def to_payload(self) -> dict[str, Any]:
        """Return the JSON-ready form stored in the outbox."""
        return {"v": 1, **asdict(self)}

    def to_webhook(self) -> dict[str, Any]:
        """Return the JSON posted to webhooks: the stored form without the messages for people
        (machine readers match codes; the English ``title`` and ``detail`` stay)."""
        return {k: v for k, v in self.to_payload().items() if k not in _MESSAGE_FIELDS}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Notification:
        """Rebuild a notification from :meth:`to_payload` output, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in names})

    @property
    def subject(self) -> str:
        """Return the subject in the source language (see :meth:`subject_in`)."""
        return self.subject_in(None)

    def subject_in(self, locale: str | None) -> str:
        """Return a one-line subject in ``locale``: site, what happened and the alert title."""
        severity = translate(locale, label(self.severity)).upper()
        head = _HEADLINE.get(self.event)
        head = translate(locale, head, severity=severity) if head else self.event
        return f"[{self.site}] " + translate(locale, "%(what)s: %(title)s", what=head,
                                              title=self.title_in(locale))[:250]

    def _facts(self, locale: str | None) -> list[tuple[str, object]]:
        event = translate(locale, _EVENT_WORDS[self.event]) if self.event in _EVENT_WORDS else self.event
        if self.promoted:
            event = translate(locale, "%(event)s (confirmed by live data)", event=event)
        return [
            (translate(locale, "Event"), event),
            (translate(locale, "Severity"), translate(locale, label(self.severity))),
            (translate(locale, "State"), translate(locale, label(self.state))),
            (translate(locale, "Asset"), " ".join(p for p in (self.asset, self.asset_name) if p) or None),
            (translate(locale, "Ward"), self.ward), (translate(locale, "Gateway"), self.gateway),
            (translate(locale, "Channel"), self.channel), (translate(locale, "Value"), self._value_text(locale)),
            (translate(locale, "Condition since"), self._time_text(self.condition_since, locale)),
            (translate(locale, "Opened"), self._time_text(self.opened_at, locale)),
            (translate(locale, "Escalation level"), self.escalation_level or None),
            (translate(locale, "By"), self.by),
            (translate(locale, "Note"), self._said(self.note_message, self.note, locale) or None),
            (translate(locale, "Rule"), self.rule), (translate(locale, "Alert"), f"#{self.alert_id}"),
            (translate(locale, "Link"), self.url),
        ]

    def text(self, locale: str | None = None) -> str:
        """Return a plain-text body listing the alert's facts, in ``locale`` (None: the source language)."""
        lines = [self.title_in(locale), ""]
        if self.detail:
            lines += [self.detail_in(locale), ""]
        facts = self._facts(locale)
        width = max(len(k) for k, _ in facts)
        colon = translate(locale, "%(label)s:", label="")  # French puts a space before the colon
        lines += [f"{k + colon:<{width + len(colon)}} {v}" for k, v in facts if v not in (None, "")]
        if self.historical:
            lines += ["", translate(locale, "This condition was found in data that reached the hub late (replayed "
                                            "after an outage). It is reported for the record, not as a live "
                                            "emergency.")]
        return "\n".join(lines) + "\n"
