"""The stock ledger: every change of stock is one movement, stock never goes negative, and the
ledger of each bin sums to its level."""

from __future__ import annotations

from decimal import Decimal

import pytest
from inventory_support import make_store
from relational_support import actor, clock, engine, session

from wardlink.hub.db.models import StockLevel, StockMovement
from wardlink.hub.errors import InvalidInput, PermissionDenied, StoreError
from wardlink.hub.services.inventory import adjustments, ledger, levels


def _levels(session, part_id):
    return {row.bin_id: row.quantity for row in session.query(StockLevel).filter_by(part_id=part_id)}


def test_receive_issue_transfer_and_return_keep_the_ledger_equal_to_the_levels(session, clock):
    store = make_store(session, clock)
    buyer, tech = actor(session, "buyer"), actor(session, "tech")
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=10, reference="DN-443", actor=buyer,
                   clock=clock)
    ledger.issue(session, store.part_id, bin_id=store.bin_a, quantity="3", reason="ward round", actor=tech,
                 clock=clock)
    out, into = ledger.transfer(session, store.part_id, from_bin_id=store.bin_a, to_bin_id=store.bin_b,
                                quantity="2.5", actor=tech, clock=clock)
    ledger.return_stock(session, store.part_id, bin_id=store.bin_b, quantity="0.5", reason="unused",
                        actor=tech, clock=clock)
    assert into.related_id == out.id and (out.quantity, into.quantity) == (Decimal("-2.5"), Decimal("2.5"))
    assert _levels(session, store.part_id) == {store.bin_a: Decimal("4.5"), store.bin_b: Decimal("3")}
    assert ledger.ledger_totals(session, store.part_id) == _levels(session, store.part_id)
    assert levels.on_hand(session, [store.part_id]) == {store.part_id: Decimal("7.5")}
    kinds = [m.kind for m in ledger.history(session, store.part_id, actor=tech).items]
    assert kinds == ["return", "transfer_in", "transfer_out", "issue", "receive"]


def test_an_issue_larger_than_the_bin_is_refused_and_changes_nothing(session, clock):
    store = make_store(session, clock)
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=2, actor=None, clock=clock)
    with pytest.raises(ledger.InsufficientStock, match=r"not enough stock of FLT-100 in BME-STORE / A-1: it holds "
                                                       r"2 each, 3 each asked for"):
        ledger.issue(session, store.part_id, bin_id=store.bin_a, quantity=3, reason="x", actor=None, clock=clock)
    with pytest.raises(ledger.InsufficientStock, match="A-2: it holds 0 each"):
        ledger.issue(session, store.part_id, bin_id=store.bin_b, quantity=1, reason="x", actor=None, clock=clock)
    assert _levels(session, store.part_id) == {store.bin_a: Decimal("2")}
    assert session.query(StockMovement).filter_by(part_id=store.part_id).count() == 1


def test_three_tenths_taken_a_tenth_at_a_time_leave_exactly_nothing(session, clock):
    store = make_store(session, clock)
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity="0.3", actor=None, clock=clock)
    for _ in range(3):
        ledger.issue(session, store.part_id, bin_id=store.bin_a, quantity="0.1", reason="x", actor=None, clock=clock)
    assert _levels(session, store.part_id) == {store.bin_a: Decimal("0")}
    with pytest.raises(ledger.InsufficientStock):
        ledger.issue(session, store.part_id, bin_id=store.bin_a, quantity="0.001", reason="x", actor=None,
                     clock=clock)


def test_ledger_rows_cannot_be_changed_or_deleted(session, clock):
    store = make_store(session, clock)
    move = ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=1, actor=None, clock=clock)
    move.reason = "rewritten"
    with pytest.raises(StoreError, match="append-only"):
        session.flush()


def test_technicians_may_not_receive_or_adjust_and_buyers_may_not_issue(session, clock):
    store = make_store(session, clock)
    with pytest.raises(PermissionDenied, match="may not receive stock"):
        ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=1, actor=actor(session, "tech"),
                       clock=clock)
    with pytest.raises(PermissionDenied, match="may not issue"):
        ledger.issue(session, store.part_id, bin_id=store.bin_a, quantity=1, reason="x",
                     actor=actor(session, "buyer"), clock=clock)
    with pytest.raises(PermissionDenied, match="may not adjust"):
        adjustments.adjust(session, store.part_id, bin_id=store.bin_a, quantity=1, reason="found",
                           actor=actor(session, "tech"), clock=clock)


def test_a_large_adjustment_waits_for_a_manager_and_a_small_one_applies_at_once(session, clock):
    store = make_store(session, clock, unit_cost="100.00")
    buyer, manager = actor(session, "buyer"), actor(session, "manager")
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=4, actor=buyer, clock=clock)
    # worth exactly the threshold (5 x 100.00 = 500): applied at once
    small = adjustments.adjust(session, store.part_id, bin_id=store.bin_a, quantity="5", reason="found",
                               actor=buyer, clock=clock)
    assert small.movement is not None and small.movement.approved_by_id is None
    large = adjustments.adjust(session, store.part_id, bin_id=store.bin_a, quantity="-9", reason="water damage",
                               actor=buyer, clock=clock)
    assert large.movement is None and large.request.state == "pending"
    assert large.request.value == Decimal("900.00")
    assert _levels(session, store.part_id) == {store.bin_a: Decimal("9")}
    with pytest.raises(PermissionDenied):
        adjustments.approve(session, large.request.id, actor=buyer, clock=clock)
    done = adjustments.approve(session, large.request.id, note="seen the damage", actor=manager, clock=clock)
    assert done.state == "approved"
    moved = session.get(StockMovement, done.movement_id)
    assert (moved.kind, moved.quantity, moved.approved_by_id) == ("adjust", Decimal("-9"), manager.user_id)
    assert _levels(session, store.part_id) == {store.bin_a: Decimal("0")}
    with pytest.raises(InvalidInput, match="already approved"):
        adjustments.reject(session, done.id, note="no", actor=manager, clock=clock)


def test_a_count_moves_the_books_by_the_difference(session, clock):
    store = make_store(session, clock)
    ledger.receive(session, store.part_id, bin_id=store.bin_a, quantity=8, actor=None, clock=clock)
    outcome = adjustments.count(session, store.part_id, bin_id=store.bin_a, counted="6",
                                actor=actor(session, "buyer"), clock=clock)
    assert outcome.movement.kind == "count" and outcome.movement.quantity == Decimal("-2")
    assert outcome.movement.balance == Decimal("6")
    assert adjustments.count(session, store.part_id, bin_id=store.bin_a, counted=6, actor=None,
                             clock=clock).movement is None
