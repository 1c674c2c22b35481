"""Messages (an English template and its values, :class:`wardlink.hub.errors.Message`) in a
reader's language.

Pages call it through :func:`wardlink.hub.web.i18n.error_message` with the request's locale;
the mailer and the services that write to a person call :func:`render` with that person's
locale. A value is written as the reader reads it: a message within the message in their
language, a word of the vocabulary (:class:`Term`) by its label in their language, a number
(:class:`Quantity`, floats) with their decimal sign, a duration with their abbreviations, a
moment (:class:`Moment`) in the site's time zone. A translation whose placeholders do not
fit gives the English text.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from wardlink.hub import i18n
from wardlink.hub.db.vocab import label
from wardlink.hub.errors import Duration, Message, Moment, Plural, Quantity, Term, duration_form

UTC = ZoneInfo("UTC")


def render(message: Message | str, locale: str | None, zone: ZoneInfo | None = None) -> str:
    """Return ``message`` in ``locale``, its values written as the reader reads them; moments
    in ``zone`` (UTC when None). Plain text is returned as it is."""
    if not isinstance(message, Message) or not isinstance(message.template, str) or not message.template:
        return str(message)
    catalogue = i18n.translations(locale)
    if isinstance(message, Plural):
        text = catalogue.ngettext(message.template, message.plural, message.n)
        english = message.chosen()
    else:
        text, english = catalogue.gettext(message.template), message.template
    if not message.values:
        return text
    values = {name: value if f"%({name})r" in english else _value(value, locale, zone)
              for name, value in message.values.items()}
    try:
        return text % values
    except (KeyError, ValueError, TypeError):
        return str(message)


def _value(value: object, locale: str | None, zone: ZoneInfo | None) -> object:
    """Return one value of a message as the reader reads it (one written with ``%(name)r``,
    the exact thing someone typed, is left as it is)."""
    if isinstance(value, Message):
        return render(value, locale, zone)
    if isinstance(value, Term):
        text = i18n.translations(locale).gettext(label(value.key)) or str(value)
        return text if value[:1].isupper() else text.lower()
    if isinstance(value, Quantity):
        return number(value.digits, locale) + (" " + value.symbol if value.symbol else "")
    if isinstance(value, Duration):
        template, parts = duration_form(value.ms)
        return i18n.translations(locale).gettext(template) % parts
    if isinstance(value, Moment):
        try:
            moment = datetime.fromisoformat(value.iso)
        except ValueError:
            return str(value)
        return i18n.format_datetime(moment, zone or UTC, locale)
    if isinstance(value, Decimal | float) and not isinstance(value, bool):
        return i18n.format_decimal(str(value), locale)
    return value


def number(digits: str, locale: str | None) -> str:
    """Return a number written in English ('9.4', '-0.25', '1,234') as ``locale`` writes it
    ('9,4', '1 234'); text that is no such number ('1.013e+05', a word) stays as it is."""
    if locale in (None, i18n.SOURCE_LOCALE) or locale not in i18n.LANGUAGES:
        return digits
    try:
        parsed = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        return digits
    if not parsed.is_finite() or "e" in digits.lower():
        return digits
    from babel.numbers import format_decimal

    pattern = "#,##0.##########" if "," in digits else "0.##########"
    return format_decimal(parsed, pattern, locale=locale, decimal_quantization=False)
