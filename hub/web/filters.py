"""Jinja filters and globals: labels, times, ages and numbers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, g, has_request_context, request, url_for

from flask_babel import gettext

from wardlink.hub import i18n
from wardlink.hub.db.risk import RISK_FIELDS
from wardlink.hub.db import units
from wardlink.hub.db.types import from_ms
from wardlink.hub.db.vocab import label
from wardlink.hub.services.inventory.common import amount, number
from wardlink.hub.services.people import local_time
from wardlink.hub.web.db import db
from wardlink.hub.errors import Message
from wardlink.hub.services.alerts import records as alert_records
from wardlink.hub.web.i18n import current_locale, error_message
from wardlink.hub.web.people.auth import user_can
from wardlink.hub.web.security import csrf_token
from wardlink.hub.web.state import state


def display_zone() -> ZoneInfo:
    """Return the zone this request shows times in: the user's site's (UTC outside a request)."""
    if not has_request_context():
        return local_time.UTC_ZONE
    zone = g.get("_display_zone")
    if zone is None:
        zone = g._display_zone = local_time.display_zone(db(), g.get("actor"))
    return zone


def format_dt(value: datetime | None) -> str:
    """Return the moment in the site's time zone as the reader's language writes it
    ('2026-12-06 14:30:00 CET', '6 déc. 2026 14:30:00 CET'), or an empty string."""
    return i18n.format_datetime(value, display_zone(), current_locale())


def format_utc(value: datetime | None) -> str:
    """Return 'YYYY-MM-DD HH:MM:SS UTC', or an empty string (tooltips next to local times)."""
    return local_time.local_text(value, local_time.UTC_ZONE)


def input_local(value: datetime | None) -> str:
    """Return ``value`` as a datetime-local field's value in the site's zone ('' for None)."""
    if value is None:
        return ""
    return value.astimezone(display_zone()).strftime("%Y-%m-%dT%H:%M")


def zoned_input(value: str | None) -> str | None:
    """Return a datetime-local form value (site time, no zone) as ISO 8601 with its offset.

    Values that name a zone, blanks and text that is no time are passed on unchanged, for the
    service to accept or refuse with its own message.
    """
    if not value or not value.strip():
        return value
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    return value if moment.tzinfo is not None else moment.replace(tzinfo=display_zone()).isoformat()


def format_date(value: date | None) -> str:
    """Return a date as the reader's language writes it ('2026-12-06', '6 déc. 2026'), or ''."""
    return i18n.format_date(value, current_locale())


def format_pattern(value: date | None, pattern: str) -> str:
    """Return a date in a CLDR pattern ('MMMM y') with the reader's month and day names, or ''."""
    return "" if value is None else i18n.format_pattern(value, pattern, current_locale())


def format_ms(value: int | None) -> str:
    """Return a millisecond timestamp in the site's time zone, like :func:`format_dt`."""
    return "" if value is None else format_dt(from_ms(value))


def format_age(seconds: float | None) -> str:
    """Return a short age such as '12 s ago', '5 min ago', '3 h ago' or 'never'."""
    if seconds is None:
        return gettext("never")
    for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if seconds < limit:
            return gettext("%(count)s %(unit)s ago", count=int(seconds // size), unit=unit)
    return gettext("%(count)s %(unit)s ago", count=int(seconds // 86400), unit="d")


def since(value: datetime | None) -> str:
    """Return how long ago ``value`` was, by the app's clock."""
    if value is None:
        return gettext("never")
    return format_age(max(0.0, state().clock.now() - value.timestamp()))


def format_value(value: float | None) -> str:
    """Return a reading value with at most two decimals, or an em dash."""
    if value is None:
        return "—"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return i18n.format_decimal("0" if text == "-0" else text, current_locale())


def unit_symbol(code: str | None) -> str:
    """Return the symbol a unit code is shown with ('degC' -> '°C', 'Pa' -> 'hPa')."""
    return units.unit(code).symbol


def reading(value: float | None, code: str | None, metric: str | None = None) -> str:
    """Return a stored reading as people read it, with its symbol ('4.6 °C', '4,6 °C', 'Open')."""
    text = reading_value(value, code, metric)
    symbol = units.unit(code).symbol
    if text == "—" or not symbol or units.unit(code).digital:
        return text
    return f"{text} {symbol}"


def reading_value(value: float | None, code: str | None, metric: str | None = None) -> str:
    """Return a stored reading converted to its display unit, without the symbol."""
    if units.unit(code).digital:
        return gettext(units.display_value(value, code, metric))
    return i18n.format_decimal(units.display_value(value, code, metric), current_locale())


def translated_label(value: str | None) -> str:
    """Return the display label of an enumerated value in the reader's language."""
    text = label(value)
    return gettext(text) if text else text


def translate_text(text: str | None) -> str:
    """Return a text of a vocabulary table (a label, a field's name) in the reader's language;
    anything the catalogues do not hold (names, numbers) is returned as it is."""
    return gettext(text) if text else (text or "")


def action_text(text: str) -> str:
    """Return an audit action as people read it ('Work order: assign'), its noun translated."""
    noun, sep, verb = text.partition(": ")
    return f"{translate_text(noun)}{sep}{verb}"


def said(value: Message | str | None) -> str:
    """Return a message in the reader's language, its moments in the site's time zone (plain
    text, such as an older alert's English, is shown as it is)."""
    if value is None:
        return ""
    return error_message(value, display_zone()) if isinstance(value, Message) else str(value)


def alert_title(alert: Any) -> str:
    """Return an alert's title as the reader reads it."""
    return said(alert_records.title_of(alert))


def alert_detail(alert: Any) -> str:
    """Return an alert's detail as the reader reads it, one line a message."""
    return "\n".join(said(line) for line in alert_records.detail_of(alert))


def alert_resolution(alert: Any) -> str:
    """Return how an alert was resolved as the reader reads it (a person's note as written)."""
    return said(alert_records.resolution_of(alert))


def risk_label(field: str, score: int | None) -> str:
    """Return the Fennigkoh-Smith label of ``score`` for ``field``."""
    if score is None:
        return gettext("not assessed")
    return gettext(RISK_FIELDS[field].get(score, str(score)))


def format_quantity(value: Decimal | None) -> str:
    """Return a quantity of stock without trailing zeros (``2``, ``0.5``); '—' for None."""
    return "—" if value is None else (number(value) or "0")


def format_money(value: Decimal | None) -> str:
    """Return an amount with two decimals (``12.50``); '—' for None."""
    return "—" if value is None else (amount(value) or "0.00")


def url_with(**changes) -> str:
    """Return the current URL with some query arguments replaced (None removes one)."""
    args: dict[str, Any] = request.args.to_dict(flat=False)  # an argument given twice keeps both
    args.update(changes)
    args = {k: v for k, v in args.items() if v not in (None, "", [], [""])}
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def init_app(app: Flask) -> None:
    """Register the filters and template globals."""
    app.jinja_env.filters.update(dt=format_dt, utc=format_utc, input_local=input_local,
                                 date=format_date, ldate=format_pattern, ms=format_ms, age=format_age,
                                 since=since, value=format_value, label=translated_label, tr=translate_text,
                                 action=action_text, risk=risk_label,
                                 unit=unit_symbol, reading=reading, reading_value=reading_value,
                                 qty=format_quantity, money=format_money, said=said, alert_title=alert_title,
                                 alert_detail=alert_detail, alert_resolution=alert_resolution)
    app.jinja_env.globals.update(csrf_token=csrf_token, can=user_can, url_with=url_with, unit_info=units.unit,
                                 state_words=lambda metric: tuple(gettext(w) for w in units.state_words(metric)),
                                 risk_fields=RISK_FIELDS)

    @app.context_processor
    def _site():
        return {"site_name": state().config.site_name, "display_zone": display_zone}
