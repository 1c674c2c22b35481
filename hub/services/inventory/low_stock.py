"""Low stock: a part whose stock on hand falls to its reorder level is low until it rises above.

:func:`evaluate` runs after every movement and every change of a part's reorder level, in the
same transaction. When a part becomes low it stamps ``low_since``, opens a low-stock alert and
tells procurement and the managers through the notice hook (in the app and by e-mail, as each
person's preferences say); when it is restocked above the level it clears the stamp and
resolves the alert. The stamp is the one record of "is it low", so the reorder list is an
index lookup however many parts there are. A part added to the catalogue with a reorder level
and no stock goes on the reorder list at once, without an alert: it has not fallen. Stock held
for work orders (picked, not issued) still counts as on hand: it leaves the books when the
order is completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Part
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import label
from wardlink.hub.errors import Message, Quantity, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services import messages
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.inventory.levels import held, on_hand
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import require
from wardlink.clock import Clock

RULE = "low_stock"
#: Who hears of a part running low.
ROLES = ("procurement", "manager")
INVENTORY = Actor.system("inventory")


def is_low(part: Part, stock: Decimal) -> bool:
    """Return True when ``stock`` on hand is at or below the part's reorder level (an active part
    with a level above 0)."""
    return part.active and part.reorder_level > 0 and stock <= part.reorder_level


def _said(part: Part, stock: Decimal) -> tuple[Message, list[Message]]:
    """Return the title and the detail lines of a low-stock alert as messages (an English
    template and its values) that pages and notices write in the reader's language."""
    unit = Term(part.unit, label(part.unit))
    title = Message(N_("Low stock: %(sku)s %(name)s: %(stock)s %(unit)s left"), sku=part.sku, name=part.name,
                    stock=Quantity(number(stock) or "0"), unit=unit)
    supplier = part.preferred_supplier.name if part.preferred_supplier else Message(N_("none"))
    lines = [Message(N_("%(sku)s %(name)s is at or below its reorder level."), sku=part.sku, name=part.name),
             Message(N_("On hand: %(stock)s %(unit)s"), stock=Quantity(number(stock) or "0"), unit=unit),
             Message(N_("Reorder level: %(level)s %(unit)s"), level=Quantity(number(part.reorder_level) or "0"),
                     unit=unit),
             Message(N_("Reorder quantity: %(quantity)s %(unit)s"),
                     quantity=Quantity(number(part.reorder_quantity) or "0"), unit=unit),
             Message(N_("Preferred supplier: %(supplier)s"), supplier=supplier)]
    return title, lines


def _body(lines: list[Message], locale: str | None) -> str:
    """Return the detail of a low-stock alert as a notice's body in ``locale``."""
    first, *rest = (messages.render(line, locale) for line in lines)
    return "\n".join([first, "", *rest, ""])


def evaluate(session: Session, part: Part, *, clock: Clock, announce: bool = True) -> bool | None:
    """Mark ``part`` low or restocked when its stock on hand crossed the reorder level; return
    True when it became low now, False when it stopped being low, None when nothing changed.

    With ``announce`` False (a part just added to the catalogue, which has not *fallen* to its
    level) a low part goes on the reorder list without an alert or a notice."""
    stock = on_hand(session, [part.id])[part.id]
    low = is_low(part, stock)
    if low == (part.low_since is not None):
        return None
    now = utc_now(clock)
    if low and not announce:
        part.low_since = now
        session.flush()
        return True
    if low:
        title, lines = _said(part, stock)
        alert = alerts.raise_alert(session, rule=RULE, severity="warning", title=str(title)[:300],
                                   detail=_body(lines, None), value=float(stock), actor=INVENTORY, clock=clock,
                                   title_message=title if len(str(title)) <= 300 else None, detail_message=lines)
        part.low_since, part.low_alert_id = now, alert.id
        session.flush()
        notices.announce(session, "low_stock", subject=lambda locale: messages.render(title, locale),
                         body=lambda locale: _body(lines, locale), link=f"/inventory/parts/{part.id}",
                         key=f"part:{part.id}:low:{alert.id}", clock=clock, roles=ROLES)
        return True
    if part.low_alert_id is not None:
        alert = alerts.get_alert(session, part.low_alert_id, actor=INVENTORY)
        if alert.state != "resolved":
            note = Message(N_("Restocked: %(stock)s %(unit)s on hand"), stock=Quantity(number(stock) or "0"),
                           unit=Term(part.unit, label(part.unit)))
            alerts.resolve(session, alert.id, note=str(note), note_message=note, actor=INVENTORY, clock=clock)
    part.low_since, part.low_alert_id = None, None
    session.flush()
    return False


@dataclass(frozen=True)
class ReorderLine:
    """A low part on the reorder list: what there is, what is held, what to order."""

    part: Part
    on_hand: Decimal
    held: Decimal

    @property
    def shortfall(self) -> Decimal:
        """Return how far stock is below the reorder level (0 when at it)."""
        return max(self.part.reorder_level - self.on_hand, Decimal("0"))

    @property
    def suggested(self) -> Decimal:
        """Return how much to order: the reorder quantity, at least the shortfall."""
        return max(self.part.reorder_quantity, self.shortfall)


def reorder_list(session: Session, *, actor: Actor | None, supplier_id: int | None = None, page: int = 1,
                 per_page: int = 50) -> Page[ReorderLine]:
    """Return one page of the parts at or below their reorder level, longest low first."""
    require(resolve_actor(actor), "part.view")
    stmt = select(Part).where(Part.low_since.is_not(None)).options(selectinload(Part.preferred_supplier))
    if supplier_id is not None:
        stmt = stmt.where(Part.preferred_supplier_id == supplier_id)
    result = paginate(session, stmt.order_by(Part.low_since, Part.id), page, per_page)
    ids = [p.id for p in result.items]
    stock, picked = on_hand(session, ids), held(session, ids)
    lines = [ReorderLine(p, stock[p.id], picked[p.id]) for p in result.items]
    return Page(lines, result.page, result.per_page, result.total, result.total_exact)
