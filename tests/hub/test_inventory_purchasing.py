"""Purchase orders on both stores: the state machine (each refused move), drafting from the
reorder list, receiving in two parts through the ledger, what is on order, and the PDF."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from inventory_support import make_store
from relational_support import actor, clock, engine, session

from wardlink.hub.db.models import AuditLog, PurchaseOrderReceipt, StockMovement
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.services.inventory import catalogue, ledger, levels, po_pdf, purchasing, receiving
from wardlink.hub.services.inventory.purchasing import PurchaseOrderConflict

__all__ = ["clock", "engine", "session"]


def _low_store(session, clock):
    """FLT-100 (level 2, reorder 10) with 1 in bin A-1: low, on the reorder list."""
    store = make_store(session, clock)
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=1, actor=actor(session, "buyer"),
                   clock=clock)
    return store


def _sent(session, clock, store, quantity="10"):
    buyer = actor(session, "buyer")
    order = purchasing.create_order(session, {"supplier_id": store.supplier_id}, actor=buyer, clock=clock)
    purchasing.set_line(session, order.id, part_id=store.part_id, quantity=quantity, actor=buyer, clock=clock)
    purchasing.transition(session, order.id, "sent", actor=buyer, clock=clock)
    return order


def test_a_draft_from_the_reorder_list_orders_the_reorder_quantity_of_each_low_part(session, clock):
    store = _low_store(session, clock)
    buyer = actor(session, "buyer")
    other = catalogue.create_part(session, {"sku": "SEAL-7", "name": "Seal", "reorder_level": "5",
                                            "reorder_quantity": "3", "preferred_supplier_id": store.supplier_id,
                                            "unit_cost": "2.00"}, actor=buyer, clock=clock)
    order = purchasing.create_order(session, {"supplier_id": store.supplier_id, "add_below_reorder": True},
                                    actor=buyer, clock=clock)
    assert order.number == f"PO-{order.id:05d}" and order.state == "draft"
    # FLT-100: reorder quantity 10; SEAL-7: 0 on hand, level 5, so at least the shortfall 5 (more than 3).
    assert {line.part.sku: line.quantity for line in order.lines} == {"FLT-100": Decimal("10"),
                                                                       "SEAL-7": Decimal("5")}
    assert purchasing.total(order) == Decimal("135.00")
    assert purchasing.add_below_reorder(session, order.id, actor=buyer, clock=clock) == []
    purchasing.remove_line(session, order.id, order.lines[1].id, actor=buyer, clock=clock)
    purchasing.transition(session, order.id, "sent", actor=buyer, clock=clock)
    assert purchasing.on_order(session, [store.part_id, other.id]) == {store.part_id: Decimal("10"),
                                                                       other.id: Decimal("0")}
    # Already fully on order: a second draft leaves FLT-100 out.
    again = purchasing.create_order(session, {"supplier_id": store.supplier_id, "add_below_reorder": "yes"},
                                    actor=buyer, clock=clock)
    assert [line.part.sku for line in again.lines] == ["SEAL-7"]
    assert order.expected_on is not None  # the supplier's lead time of 7 days
    actions = [a for (a,) in session.query(AuditLog.action).filter(AuditLog.entity == "purchase_order")]
    assert actions.count("purchase_order.create") == 2 and "purchase_order.send" in actions


def test_receiving_in_two_parts_restores_stock_and_the_ledger_reconciles(session, clock):
    store = _low_store(session, clock)
    order = _sent(session, clock, store)
    line = order.lines[0]
    clerk = actor(session, "manager")
    first = receiving.receive(session, order.id, line.id, quantity=4, bin_id=store.bin_a, reference="DN-1",
                              actor=clerk, clock=clock)
    assert order.state == "partially_received" and line.received == Decimal("4")
    assert first.kind == "receive" and first.reference == f"{order.number} / DN-1"
    assert first.supplier_id == store.supplier_id and first.unit_cost == Decimal("12.50")
    assert purchasing.on_order(session, [store.part_id]) == {store.part_id: Decimal("6")}
    with pytest.raises(InvalidInput, match="only 6 each of FLT-100 are still to arrive"):
        receiving.receive(session, order.id, line.id, quantity=7, bin_id=store.bin_b, actor=clerk, clock=clock)
    receiving.receive(session, order.id, line.id, quantity="6", bin_id="BME-STORE/A-2", actor=clerk, clock=clock)
    assert order.state == "received" and line.received == Decimal("10")
    assert levels.on_hand(session, [store.part_id]) == {store.part_id: Decimal("11")}
    assert ledger.ledger_totals(session, store.part_id) == {store.bin_a: Decimal("5"), store.bin_b: Decimal("6")}
    assert receiving.received_by_ledger(session, line.id) == line.received
    assert session.query(PurchaseOrderReceipt).count() == 2
    assert purchasing.on_order(session, [store.part_id]) == {store.part_id: Decimal("0")}
    part = catalogue.get_part(session, store.part_id, actor=clerk)
    assert part.low_since is None  # restocked above the level
    purchasing.transition(session, order.id, "closed", actor=actor(session, "buyer"), clock=clock)
    assert order.state == "closed" and order.ended_at is not None


@pytest.mark.parametrize("state, target", [
    ("draft", "closed"), ("sent", "sent"), ("sent", "closed"), ("partially_received", "cancelled"),
    ("partially_received", "sent"), ("received", "cancelled"), ("received", "sent"), ("closed", "sent"),
    ("closed", "cancelled"), ("cancelled", "sent"), ("cancelled", "closed"),
])
def test_each_refused_transition_changes_nothing(session, clock, state, target):
    store = _low_store(session, clock)
    buyer = actor(session, "buyer")
    order = purchasing.create_order(session, {"supplier_id": store.supplier_id}, actor=buyer, clock=clock)
    purchasing.set_line(session, order.id, part_id=store.part_id, quantity=4, actor=buyer, clock=clock)
    steps = {"draft": [], "sent": ["sent"], "partially_received": ["sent", 1], "received": ["sent", 4],
             "closed": ["sent", 4, "closed"], "cancelled": ["cancelled"]}[state]
    for step in steps:
        if isinstance(step, int):
            receiving.receive(session, order.id, order.lines[0].id, quantity=step, bin_id=store.bin_a, actor=buyer,
                              clock=clock)
        else:
            purchasing.transition(session, order.id, step, reason="not needed", actor=buyer, clock=clock)
    assert order.state == state
    with pytest.raises(PurchaseOrderConflict, match=f"{order.number} is"):
        purchasing.transition(session, order.id, target, reason="why", actor=buyer, clock=clock)
    assert order.state == state


def test_drafts_alone_change_lines_and_nothing_is_received_unless_sent(session, clock):
    store = _low_store(session, clock)
    buyer = actor(session, "buyer")
    draft = purchasing.create_order(session, {"supplier_id": store.supplier_id}, actor=buyer, clock=clock)
    with pytest.raises(InvalidInput, match="no lines"):
        purchasing.transition(session, draft.id, "sent", actor=buyer, clock=clock)
    line = purchasing.set_line(session, draft.id, part_id=store.part_id, quantity=2, actor=buyer, clock=clock)
    with pytest.raises(PurchaseOrderConflict, match="only a sent order"):
        receiving.receive(session, draft.id, line.id, quantity=1, bin_id=store.bin_a, actor=buyer, clock=clock)
    with pytest.raises(InvalidInput, match="say why"):
        purchasing.transition(session, draft.id, "cancelled", actor=buyer, clock=clock)
    purchasing.transition(session, draft.id, "sent", actor=buyer, clock=clock)
    with pytest.raises(PurchaseOrderConflict, match="only a draft's lines"):
        purchasing.set_line(session, draft.id, part_id=store.part_id, quantity=3, actor=buyer, clock=clock)
    with pytest.raises(InvalidInput, match="quantity"):
        receiving.receive(session, draft.id, line.id, quantity="-1", bin_id=store.bin_a, actor=buyer, clock=clock)
    assert session.query(StockMovement).filter_by(kind="receive").count() == 1  # the opening stock only


def test_technicians_may_not_order_or_receive(session, clock):
    store = _low_store(session, clock)
    tech = actor(session, "tech")
    with pytest.raises(PermissionDenied):
        purchasing.create_order(session, {"supplier_id": store.supplier_id}, actor=tech, clock=clock)
    order = _sent(session, clock, store)
    with pytest.raises(PermissionDenied):
        receiving.receive(session, order.id, order.lines[0].id, quantity=1, bin_id=store.bin_a, actor=tech,
                          clock=clock)
    with pytest.raises(PermissionDenied):
        purchasing.transition(session, order.id, "cancelled", reason="x", actor=actor(session, "manager"),
                              clock=clock)
    assert purchasing.get_order(session, order.id, actor=tech).state == "sent"


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_the_pdf_is_a_pdf_with_the_lines(session, clock, locale, tmp_path):
    store = _low_store(session, clock)
    order = _sent(session, clock, store, quantity="2.5")
    data = po_pdf.order_pdf(order, site_name="General Hospital", zone=ZoneInfo("UTC"), locale=locale)
    assert data.startswith(b"%PDF-")
    if shutil.which("pdftotext") is None:
        pytest.fail("needs poppler-utils (pdftotext)")
    (tmp_path / "po.pdf").write_bytes(data)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "po.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert ("Purchase order" if locale == "en" else "Bon de commande") in text
    assert "FLT-100" in text and "Air filter, ventilator intake" in text and order.number in text
    assert ("2.5" in text and "31.25" in text) if locale == "en" else ("2,5" in text and "31,25" in text)
