"""Languages of the hub: its message catalogues, and dates and numbers per locale.

Every text a person reads (pages, flash messages, form errors, e-mails, the monthly report
PDF) is written in English in the code and looked up in a gettext catalogue for the reader's
language. The catalogues are one per domain area (``hub/i18n/<area>/<locale>/LC_MESSAGES/
messages.po``, see :mod:`wardlink.hub.i18n.catalogues` for which code feeds which), so people
working on different areas never edit the same file. They are read from the ``.po`` files
and compiled in memory the first time a language is asked for: there are no ``.mo`` files to
build or to fall out of step.

The web UI reaches the catalogues through Flask-Babel (``wardlink.hub.web.i18n``); services,
the mailer and the PDF writer, which must not import Flask, call :func:`translations` with
the locale of the person they write to.

Where nobody chose a language (no person's, no site's) the hub's ``default_locale`` applies: the
web UI reads it from the configuration; the scheduler runs its jobs under it
(:func:`defaulting`), so the services that write digests, reports, notices and PM work orders
for nobody in particular read it with :func:`default_locale`.

Dates and numbers follow the locale through Babel; English keeps the unambiguous
ISO-like form the hub has always shown (``2026-12-06 14:30:00 CET``), French writes
``6 déc. 2026 14:30:00 CET`` and ``4,5``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # Babel is a dependency of the hub extra only
    from babel.support import Translations

#: The languages people may choose, by locale code, each named in itself.
LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français"}
#: The language the code is written in (its catalogue is the msgids themselves).
SOURCE_LOCALE = "en"
#: Where the catalogues are: one folder per area, each with one folder per locale.
CATALOGUE_DIR = Path(__file__).resolve().parent
DOMAIN = "messages"

#: Date and time patterns (CLDR syntax) per locale; unlisted locales use the first.
PATTERNS: dict[str, dict[str, str]] = {
    "en": {"datetime": "yyyy-MM-dd HH:mm:ss", "datetime_short": "yyyy-MM-dd HH:mm", "date": "yyyy-MM-dd",
           "decimal": "0.##########"},
    "fr": {"datetime": "d MMM y HH:mm:ss", "datetime_short": "d MMM y HH:mm", "date": "d MMM y",
           "decimal": "0.##########"},
}


#: The hub's ``default_locale`` where the code runs (see :func:`defaulting`).
_DEFAULT_LOCALE: ContextVar[str] = ContextVar("default_locale", default=SOURCE_LOCALE)


def default_locale() -> str:
    """Return the hub's ``default_locale`` as the running job or request set it (else English)."""
    return _DEFAULT_LOCALE.get()


def set_default_locale(locale: str) -> Token[str]:
    """Make ``locale`` the hub's default language until :func:`reset_default_locale` (a request)."""
    return _DEFAULT_LOCALE.set(locale if locale in LANGUAGES else SOURCE_LOCALE)


def reset_default_locale(token: Token[str]) -> None:
    """Undo the :func:`set_default_locale` that returned ``token``."""
    _DEFAULT_LOCALE.reset(token)


@contextmanager
def defaulting(locale: str) -> Iterator[None]:
    """Run the block with ``locale`` as the hub's default language (the scheduler's jobs)."""
    token = set_default_locale(locale)
    try:
        yield
    finally:
        reset_default_locale(token)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues without translating it (tables translated where shown)."""
    return message


def supported(code: str | None) -> str | None:
    """Return ``code`` when it is a language the hub has, else None."""
    return code if code in LANGUAGES else None


def catalogue_files(locale: str) -> list[Path]:
    """Return every area's ``.po`` file for ``locale``, in a stable order."""
    return sorted(CATALOGUE_DIR.glob(f"*/{locale}/LC_MESSAGES/{DOMAIN}.po"))


@functools.cache
def translations(locale: str | None) -> Translations:
    """Return the merged catalogues of ``locale`` (English, or an unknown locale, translates nothing)."""
    from io import BytesIO

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    merged = Translations()
    if locale is None or locale == SOURCE_LOCALE or locale not in LANGUAGES:
        return merged
    for path in catalogue_files(locale):
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        buffer = BytesIO()
        write_mo(buffer, catalog)  # fuzzy entries are left out, as msgfmt does
        buffer.seek(0)
        part = Translations(buffer, domain=DOMAIN)
        merged.merge(part)
        merged.plural = part.plural
    assert isinstance(merged, NullTranslations)
    return merged


def translate(locale: str | None, message: str, **values: object) -> str:
    """Return ``message`` in ``locale``, with ``%(name)s`` placeholders filled from ``values``
    (the services' and the mailer's gettext: they write to a person, not in a request)."""
    text = translations(locale).gettext(message)
    return text % values if values else text


def _pattern(locale: str | None, kind: str) -> str:
    return PATTERNS.get(locale or SOURCE_LOCALE, PATTERNS[SOURCE_LOCALE])[kind]


def _babel_locale(locale: str | None) -> str:
    return locale if locale in LANGUAGES else SOURCE_LOCALE


def format_datetime(moment: datetime | None, zone: ZoneInfo, locale: str | None, *, seconds: bool = True) -> str:
    """Return ``moment`` in ``zone`` as the locale writes it, with the zone's abbreviation ('' for None)."""
    if moment is None:
        return ""
    from babel.dates import format_datetime as babel_datetime

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    local = moment.astimezone(zone)
    pattern = _pattern(locale, "datetime" if seconds else "datetime_short")
    text = babel_datetime(local.replace(tzinfo=None), pattern, locale=_babel_locale(locale))
    return f"{text} {local.strftime('%Z')}"


def format_date(day: date | None, locale: str | None) -> str:
    """Return a calendar date as the locale writes it ('' for None)."""
    if day is None:
        return ""
    from babel.dates import format_date as babel_date

    return babel_date(day, _pattern(locale, "date"), locale=_babel_locale(locale))


def format_pattern(day: date, pattern: str, locale: str | None) -> str:
    """Return a date in a CLDR ``pattern`` ('MMMM y', 'EEEE d MMMM') with the locale's month and day names."""
    from babel.dates import format_date as babel_date

    return babel_date(day, pattern, locale=_babel_locale(locale))


def format_decimal(text: str, locale: str | None) -> str:
    """Return a number already rounded and written with a point ('4.5', '-0.25') as the locale
    writes it ('4,5'); anything that is no number (an em dash, a word) is returned unchanged."""
    if locale in (None, SOURCE_LOCALE):
        return text
    from babel.numbers import get_decimal_symbol, get_minus_sign_symbol

    body = text[1:] if text.startswith("-") else text
    if not body.replace(".", "", 1).isdigit():
        return text
    sign = get_minus_sign_symbol(_babel_locale(locale)) if text.startswith("-") else ""
    return sign + body.replace(".", get_decimal_symbol(_babel_locale(locale)))
