"""Reorder notices: an item whose balance falls to its reorder level is low until it rises above.

:func:`evaluate` runs after every log entry and every change of an item's reorder level, in the
same transaction. When an item becomes low it stamps ``low_since`` and tells procurement and
the department's managers through the notice hook (in the app and by e-mail, as each person's
preferences say), once per fall: the notice key names the entry that took it down. A receipt
that lifts the balance above the level clears the stamp, so the next fall is told again. An
item added with a reorder level and nothing received is low at once without a notice: it has
not fallen.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from wardlink.hub.db.models import Consumable
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import label
from wardlink.hub.i18n import N_, translate
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.notices import core as notices
from wardlink.clock import Clock

#: Who hears of a department's item running low.
ROLES = ("procurement", "manager")


def is_low(item: Consumable, balance: Decimal) -> bool:
    """Return True when ``balance`` is at or below the item's reorder level (an active item with
    a level above 0)."""
    return item.active and item.reorder_level > 0 and balance <= item.reorder_level


def _subject(item: Consumable, balance: Decimal):
    def write(locale: str | None) -> str:
        return translate(locale, N_("Reorder %(item)s for %(department)s: %(balance)s %(unit)s left"),
                         item=item.name, department=item.department.name, balance=number(balance),
                         unit=translate(locale, label(item.unit)))
    return write


def _body(item: Consumable, balance: Decimal):
    def write(locale: str | None) -> str:
        unit = translate(locale, label(item.unit))
        return "\n".join([
            translate(locale, N_("%(item)s of %(department)s is at or below its reorder level."),
                      item=item.name, department=item.department.name), "",
            translate(locale, N_("Balance: %(balance)s %(unit)s"), balance=number(balance), unit=unit),
            translate(locale, N_("Reorder level: %(level)s %(unit)s"), level=number(item.reorder_level),
                      unit=unit), ""])
    return write


def evaluate(session: Session, item: Consumable, balance: Decimal, *, clock: Clock, announce: bool = True,
             cause: int | None = None) -> bool | None:
    """Mark ``item`` low or restocked when its ``balance`` crossed the reorder level; return True
    when it became low now, False when it stopped being low, None when nothing changed.

    ``cause`` is the log entry that moved the balance (it makes the notice's key); with
    ``announce`` False (an item just added) a low item is stamped without a notice."""
    low = is_low(item, balance)
    if low == (item.low_since is not None):
        return None
    now = utc_now(clock)
    if not low:
        item.low_since = None
        session.flush()
        return False
    item.low_since = now
    session.flush()
    if announce:
        key = f"consumable:{item.id}:low:{cause if cause is not None else int(now.timestamp())}"
        notices.announce(session, "consumable_low", subject=_subject(item, balance), body=_body(item, balance),
                         link=f"/consumables/items/{item.id}", key=key, clock=clock, roles=ROLES,
                         department_id=item.department_id)
    return True
