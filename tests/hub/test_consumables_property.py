"""The consumables log reconciles whatever happens: over random sequences of receipts and
collections (some larger than the balance, some of them back-dated), an item's balance always
equals what was received minus what was collected, never goes below zero, refused collections
change nothing, and the item is marked low exactly when its balance is at or below the reorder
level."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from consumables_support import make_item
from relational_support import actor, clock, engine, session

from wardlink.hub.services.consumables import items, log, reorder

AMOUNT = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("12"), places=3)
DAY = st.sampled_from([None, "2025-12-31", "2025-11-15"])
STEP = st.one_of(st.tuples(st.just("receipt"), AMOUNT, DAY), st.tuples(st.just("collection"), AMOUNT, DAY))
_names = itertools.count(1)


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=25))
def test_the_balance_is_always_receipts_minus_collections(session, clock, steps):
    item = make_item(session, clock, name=f"Property swabs {next(_names)}", reorder_level="4", received=None)
    nurse = actor(session, "nurse")
    received = collected = Decimal("0")
    for kind, amount, day in steps:
        before = items.balance(session, item.id)
        try:
            with session.begin_nested():
                if kind == "receipt":
                    log.receive(session, item.id, quantity=amount, on_date=day, actor=None, clock=clock)
                else:
                    log.collect(session, item.id, quantity=amount, on_date=day, actor=nurse, clock=clock)
        except log.NotEnoughStock:
            assert kind == "collection" and amount > before
            assert items.balance(session, item.id) == before
            continue
        if kind == "receipt":
            received += amount
        else:
            collected += amount
        balance = items.balance(session, item.id)
        assert balance == received - collected >= 0
        assert (items.get_item(session, item.id, actor=None).low_since is not None) == reorder.is_low(item, balance)
    page = log.history(session, item.id, actor=nurse, per_page=100)
    assert sum((e.change for e in page.items), Decimal("0")) == received - collected
    after = log.balances_after(session, item.id, [e.id for e in page.items])
    assert all(value >= 0 for value in after.values())
