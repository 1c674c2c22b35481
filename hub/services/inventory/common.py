"""What the inventory services share: comparison keys, loading rows by id, and snapshots."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from wardlink.hub.errors import Message, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.validate import MAX_ID

T = TypeVar("T")


def key_of(value: str) -> str:
    """Return the comparison key of a name or code: spaces collapsed, without case."""
    return " ".join(value.split()).casefold()


def tidy(value: str) -> str:
    """Return ``value`` with its spaces collapsed, as it is stored."""
    return " ".join(value.split())


#: What :func:`get_row` calls each kind of row, for the catalogues.
ROW_NAMES = (N_("adjustment"), N_("bin"), N_("kit"), N_("part"), N_("pick"), N_("purchase order"),
             N_("stock location"), N_("stock movement"), N_("supplier"))


def get_row(session: Session, model: type[T], row_id: Any, what: str, *, for_update: bool = False) -> T:
    """Return the ``model`` row ``row_id`` or raise :class:`NotFound` naming ``what``."""
    row = None
    if isinstance(row_id, int) and not isinstance(row_id, bool) and 1 <= row_id <= MAX_ID:
        row = session.get(model, row_id, with_for_update=for_update or None)
    if row is None:
        raise NotFound(N_("%(what)s %(row_id)s does not exist"), what=Message(what), row_id=row_id)
    return row


def number(value: Decimal | None) -> str | None:
    """Return a quantity or amount as plain text without trailing zeros (``2``, ``0.5``), for
    JSON and audit rows."""
    if value is None:
        return None
    return format(value.normalize(), "f")


def amount(value: Decimal | None) -> str | None:
    """Return an amount of money as text with two decimals (``12.50``), for JSON and audit rows."""
    return None if value is None else format(value.quantize(Decimal("0.01")), "f")
