"""Field parsers for input from forms, the API and seed data.

Each parser turns raw input (usually a string) into the stored type or raises
:class:`InvalidInput` naming the field and what is allowed. Services describe their
writable fields as a table of parsers and run :func:`parse_fields` over it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from wardlink.hub.errors import InvalidInput, Message
from wardlink.hub.i18n import N_

Parser = Callable[[str, Any], Any]
#: Largest id a row can have (PostgreSQL INTEGER).
MAX_ID = 2**31 - 1


#: what a person may leave around a typed value; other characters (controls, separators such as
#: U+001C that ``str.strip()`` would also drop) make the value invalid, never blank
_SPACE = " \t\r\n"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip(_SPACE))


def text(max_len: int, *, required: bool = False) -> Parser:
    """Return a parser for a trimmed string of at most ``max_len`` characters."""
    def parse(name: str, value: Any) -> str:
        if _blank(value):
            if required:
                raise InvalidInput(N_("%(field)s: is required"), field=name)
            return ""
        if not isinstance(value, str):
            raise InvalidInput(N_("%(field)s: must be text, got %(type)s"), field=name, type=type(value).__name__)
        value = value.strip()
        if len(value) > max_len:
            raise InvalidInput(N_("%(field)s: must be at most %(max_len)s characters, got %(count)s"),
                               field=name, max_len=max_len, count=len(value))
        if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
            raise InvalidInput(N_("%(field)s: must not contain control characters"), field=name)
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):  # lone surrogates from JSON escapes
            raise InvalidInput(N_("%(field)s: must be valid Unicode text"), field=name)
        return value
    return parse


_PRODUCT_CODE_RE = re.compile(r"^[A-Z]{3}$")


def product_code(name: str, value: Any) -> str:
    """Parse an FDA product code (three letters, e.g. FRN), upper-cased; blank is allowed."""
    if _blank(value):
        return ""
    code = text(16)(name, value).upper()
    if not _PRODUCT_CODE_RE.match(code):
        raise InvalidInput(N_("%(field)s: must be an FDA product code of three letters (e.g. FRN), got %(value)r"),
                           field=name, value=code)
    return code


#: An e-mail address as people type it: one @, a dotted domain, no spaces, quotes, brackets,
#: commas or semicolons (nothing that could add a second recipient or a header).
_EMAIL_RE = re.compile(r"^[^@\s\"<>(),;:\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")
#: Longest e-mail address (RFC 5321's path limit).
MAX_EMAIL = 254


def email_address(name: str, value: Any) -> str:
    """Parse an optional e-mail address (``name@host.example``); blank stays ''."""
    address = text(MAX_EMAIL)(name, value)
    if address and not _EMAIL_RE.match(address):
        raise InvalidInput(N_("%(field)s: must be an e-mail address such as nurse@hospital.example, got %(address)r"),
                           field=name, address=address)
    return address


def choice(values: tuple[str, ...] | Mapping[str, Any]) -> Parser:
    """Return a parser accepting one of ``values``."""
    allowed = tuple(values)

    def parse(name: str, value: Any) -> str:
        if value not in allowed:
            raise InvalidInput(N_("%(field)s: must be one of %(choices)s, got %(value)r"),
                               field=name, choices=', '.join(map(str, allowed)), value=value)
        return value
    return parse


def scored(table: Mapping[int, str]) -> Parser:
    """Return a parser for an optional integer score that must be a key of ``table``."""
    def parse(name: str, value: Any) -> int | None:
        if _blank(value):
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
        if number not in table or isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            keys = ", ".join(str(k) for k in sorted(table))
            raise InvalidInput(N_("%(field)s: must be one of %(keys)s, got %(value)r"),
                               field=name, keys=keys, value=value)
        return number
    return parse


def optional_date(name: str, value: Any) -> date | None:
    """Parse an ISO date (YYYY-MM-DD) or accept a ``date``; blank means None."""
    if _blank(value):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip(_SPACE))
    except ValueError:
        raise InvalidInput(N_("%(field)s: must be a date as YYYY-MM-DD, got %(value)r"), field=name,
                           value=value) from None


def money(name: str, value: Any) -> Decimal | None:
    """Parse a non-negative amount with at most two decimals; blank means None."""
    if _blank(value):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(N_("%(field)s: must be a finite amount, got %(value)r"), field=name, value=value)
    try:
        amount = Decimal(str(value).strip(_SPACE))
    except InvalidOperation:
        raise InvalidInput(N_("%(field)s: must be an amount like 1250.00, got %(value)r"), field=name,
                           value=value) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e10"):
        raise InvalidInput(N_("%(field)s: must be between 0 and 9999999999.99, got %(value)r"),
                           field=name, value=value)
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(N_("%(field)s: must have at most two decimals, got %(value)r"), field=name, value=value)
    return amount.quantize(Decimal("0.01"))


#: Quantities of stock keep three decimals and stay below this (the columns' NUMERIC(12, 3)).
MAX_QUANTITY = Decimal("1000000000")


def stock_quantity(*, zero: bool = False, required: bool = True) -> Parser:
    """Return a parser for an amount of stock: above 0 (or from 0 with ``zero``), three decimals."""
    low = Message(N_("0 or more")) if zero else Message(N_("greater than 0"))

    def parse(name: str, value: Any) -> Decimal | None:
        if _blank(value):
            if required:
                raise InvalidInput(N_("%(field)s: is required"), field=name)
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise InvalidInput(N_("%(field)s: must be a number %(low)s, got %(value)r"),
                               field=name, low=low, value=value)
        try:
            amount = Decimal(str(value).strip(_SPACE))
        except InvalidOperation:
            raise InvalidInput(N_("%(field)s: must be a number %(low)s, got %(value)r"),
                               field=name, low=low, value=value) from None
        if not amount.is_finite() or amount < 0 or (amount == 0 and not zero) or amount >= MAX_QUANTITY:
            raise InvalidInput(N_("%(field)s: must be a number %(low)s and below %(max_quantity)s, got %(value)r"),
                               field=name, low=low, max_quantity=MAX_QUANTITY, value=value)
        if amount != amount.quantize(Decimal("0.001")):
            raise InvalidInput(N_("%(field)s: must have at most three decimals, got %(value)r"),
                               field=name, value=value)
        return amount.quantize(Decimal("0.001"))
    return parse


def whole_number(low: int, high: int, *, required: bool = False) -> Parser:
    """Return a parser for an integer in ``low..high``; blank means None unless ``required``."""
    def parse(name: str, value: Any) -> int | None:
        if _blank(value):
            if required:
                raise InvalidInput(N_("%(field)s: is required"), field=name)
            return None
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise InvalidInput(N_("%(field)s: must be a whole number %(low)s..%(high)s, got %(value)r"),
                               field=name, low=low, high=high, value=value)
        try:
            number = int(str(value).strip(_SPACE)) if not isinstance(value, float) else int(value)
        except ValueError:
            raise InvalidInput(N_("%(field)s: must be a whole number %(low)s..%(high)s, got %(value)r"),
                               field=name, low=low, high=high, value=value) from None
        if not low <= number <= high:
            raise InvalidInput(N_("%(field)s: must be a whole number %(low)s..%(high)s, got %(value)r"),
                               field=name, low=low, high=high, value=value)
        return number
    return parse


def boolean(name: str, value: Any) -> bool:
    """Parse true/false, yes/no, on/off, 1/0 (a missing checkbox is false)."""
    if isinstance(value, bool):
        return value
    if _blank(value):
        return False
    text_value = str(value).strip(_SPACE).lower()
    if text_value in ("1", "true", "yes", "on"):
        return True
    if text_value in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(N_("%(field)s: must be true or false, got %(value)r"), field=name, value=value)


def optional_id(name: str, value: Any) -> int | None:
    """Parse a positive integer id; blank means None."""
    if _blank(value):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(N_("%(field)s: must be a numeric id, got %(value)r"), field=name,
                           value=value) from None
    # Ids are INTEGER columns: a larger number names no row and would overflow the driver.
    if number < 1 or number > MAX_ID or isinstance(value, bool):
        raise InvalidInput(N_("%(field)s: must be a positive id up to %(max_id)s, got %(value)r"),
                           field=name, max_id=MAX_ID, value=value)
    return number


def parse_fields(specs: Mapping[str, Parser], data: Mapping[str, Any], *,
                 partial: bool) -> dict[str, Any]:
    """Parse ``data`` against ``specs``; unknown keys are errors.

    With ``partial`` only the keys present are parsed (an update); otherwise every key of
    ``specs`` is parsed, missing ones as blank (a create).
    """
    unknown = sorted(set(data) - set(specs))
    if unknown:
        raise InvalidInput(N_("%(unknown)s: unknown field; known: %(choices)s"),
                           unknown=unknown[0], choices=', '.join(sorted(specs)))
    keys = [k for k in specs if k in data] if partial else list(specs)
    return {key: specs[key](key, data.get(key)) for key in keys}
