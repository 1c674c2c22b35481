"""Exceptions raised by the hub.

A hub error's message is written for people, who may not read English. It is an English
template marked for the catalogues with :func:`wardlink.hub.i18n.N_`, and the values it names::

    raise InvalidInput(N_("%(field)s: must be a number, got %(value)r"), field=name, value=raw)

``str(exc)`` is the English text (logs, the CLI, the JSON API's ``error.message``); a page
shows :func:`wardlink.hub.web.i18n.error_message`, the template in the reader's language with
the same values. A value that is itself a message (a :class:`Message`, another hub error)
is shown in the reader's language too, and so is a :class:`Term`, a word of the vocabulary
(a state, a role); a :class:`Quantity` (``9.4 °C``), a :class:`Duration` and a :class:`Moment`
are written as the reader's locale writes them; other values (tags, what someone typed) are
shown as they are. A :class:`Plural` chooses its words by a count. A message kept for later
(an alert's title) is stored as :meth:`Message.to_json` and read back with :meth:`Message.from_json`.
"""

from __future__ import annotations

from wardlink.errors import WardlinkError


class Term(str):
    """A value of a message that is a word of the vocabulary (``in_progress``, ``technician``).

    The English text shows ``text`` (the stored value itself unless given, e.g. its label);
    a page shows the value's label in the reader's language, lower-cased unless ``text``
    starts with a capital."""

    key: str

    def __new__(cls, key: str, text: str | None = None) -> Term:
        term = super().__new__(cls, key if text is None else text)
        term.key = key
        return term


class Message:
    """An English template (marked with ``N_``) and the values of its ``%(name)s`` placeholders."""

    __slots__ = ("template", "values")

    def __init__(self, template: str, /, **values: object) -> None:
        self.template = template
        self.values = values

    def __str__(self) -> str:
        return str(self.template) % self.values if self.values else str(self.template)

    def __repr__(self) -> str:
        return f"Message({str(self)!r})"

    def to_json(self) -> dict[str, object]:
        """Return the message as JSON (kept with what it describes; :meth:`from_json` reads it)."""
        return {"template": self.template, "values": {name: _encode(value) for name, value in self.values.items()}}

    @classmethod
    def from_json(cls, data: object) -> Message | None:
        """Return the message :meth:`to_json` wrote, or None for anything that is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("template"), str):
            return None
        values = data.get("values")
        if isinstance(data.get("plural"), str) and isinstance(data.get("n"), int):
            return Plural(data["template"], data["plural"], data["n"],
                          **{k: _decode(v) for k, v in (values or {}).items()})
        return cls(data["template"], **{name: _decode(value) for name, value in (values or {}).items()})


class Plural(Message):
    """A message whose words follow a count ``n`` (``%(count)s asset`` / ``%(count)s assets``):
    the English text and each language choose their form from it (``ngettext``)."""

    __slots__ = ("plural", "n")

    def __init__(self, singular: str, plural: str, n: int, /, **values: object) -> None:
        super().__init__(singular, **values)
        self.plural = plural
        self.n = n

    def chosen(self) -> str:
        """Return the English template the count chooses."""
        return self.template if self.n == 1 else self.plural

    def __str__(self) -> str:
        return self.chosen() % self.values if self.values else self.chosen()

    def to_json(self) -> dict[str, object]:
        """Return the message as JSON, with both forms and the count."""
        return {**super().to_json(), "plural": self.plural, "n": self.n}


def _encode(value: object) -> object:
    if isinstance(value, Message):
        return {"message": value.to_json()}
    if isinstance(value, Term):
        return {"term": value.key, "text": str(value)}
    if isinstance(value, Quantity):
        return {"quantity": value.digits, "unit": value.symbol}
    if isinstance(value, Duration):
        return {"duration_ms": value.ms}
    if isinstance(value, Moment):
        return {"moment": value.iso}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _decode(value: object) -> object:
    if not isinstance(value, dict):
        return value
    if "message" in value:
        return Message.from_json(value["message"]) or ""
    if "term" in value:
        return Term(str(value["term"]), str(value.get("text", value["term"])))
    if "quantity" in value:
        return Quantity(str(value["quantity"]), str(value.get("unit") or ""))
    if "duration_ms" in value:
        return Duration(float(value["duration_ms"]))
    if "moment" in value:
        return Moment(str(value["moment"]))
    return str(value)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues (as :func:`wardlink.hub.i18n.N_`, which sits above)."""
    return message


class Quantity(str):
    """A number in a message, with its unit symbol if any (``9.4 °C``, ``1,234``).

    The English text is the number as the hub writes it in English (rounded, a point for the
    decimals, commas between thousands), then the symbol; a page writes ``digits`` as the
    reader's locale does (``9,4 °C``)."""

    digits: str
    symbol: str

    def __new__(cls, digits: str, symbol: str = "") -> Quantity:
        quantity = super().__new__(cls, f"{digits} {symbol}".rstrip() if symbol else digits)
        quantity.digits, quantity.symbol = digits, symbol
        return quantity


#: How a duration is written, longest unit first: (seconds in the unit, one unit, two units).
DURATION_FORMS = (
    (86400, N_("%(days)s d"), N_("%(days)s d %(hours)s h")),
    (3600, N_("%(hours)s h"), N_("%(hours)s h %(minutes)s min")),
    (60, N_("%(minutes)s min"), ""),
    (1, N_("%(seconds)s s"), ""),
)


def duration_form(ms: float) -> tuple[str, dict[str, int]]:
    """Return how a duration is written: its English template and values ('5 min',
    '2 h 5 min', '3 d 4 h'; seconds below two minutes, minutes below two hours)."""
    seconds = max(0, round(ms / 1000))
    if seconds < 120:
        return DURATION_FORMS[3][1], {"seconds": seconds}
    minutes = seconds // 60
    if minutes < 120:
        return DURATION_FORMS[2][1], {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return (DURATION_FORMS[1][2], {"hours": hours, "minutes": minutes}) if minutes else \
            (DURATION_FORMS[1][1], {"hours": hours})
    days, hours = divmod(hours, 24)
    return (DURATION_FORMS[0][2], {"days": days, "hours": hours}) if hours else (DURATION_FORMS[0][1], {"days": days})


class Duration(str):
    """A length of time in a message (``5 min``), kept in milliseconds so a page writes it
    with the reader's abbreviations."""

    ms: float

    def __new__(cls, ms: float) -> Duration:
        template, values = duration_form(ms)
        duration = super().__new__(cls, template % values)
        duration.ms = ms
        return duration


class Moment(str):
    """A moment in a message: ISO 8601 in UTC in the English text, the site's local time as
    the reader's locale writes it on a page."""

    iso: str

    def __new__(cls, iso: str) -> Moment:
        moment = super().__new__(cls, iso)
        moment.iso = iso
        return moment


class HubError(WardlinkError):
    """Root of hub errors: see the module's docstring for the message and its values."""

    def __init__(self, message: str | Message = "", /, **values: object) -> None:
        self.message = message if isinstance(message, Message) else Message(message, **values)
        super().__init__(str(self.message))


class ConfigError(HubError, ValueError):
    """A setting is missing or has a value that is not allowed; the message names the key."""


class StoreError(HubError, OSError):
    """A telemetry or relational store could not be reached or refused a write."""


class PermissionDenied(HubError, PermissionError):
    """The acting user's role does not allow this action."""


class NotFound(HubError, LookupError):
    """The requested entity does not exist."""


class InvalidInput(HubError, ValueError):
    """Input data was rejected; the message says which field and why."""
