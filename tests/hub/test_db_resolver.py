"""DbResolver maps (gateway, channel, time) to the binding valid at that time, kept fresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from relational_support import GATEWAY, T0_MS, clock, engine

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.db.resolver import DbResolver
from wardlink.hub.db.types import from_ms
from wardlink.hub.ingest.resolver import Resolved, Resolver, series_of
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.people import org


def _rebind(eng, clock, channel: str, tag: str, at_ms: int) -> None:
    with session_scope(eng) as session:
        gateways.bind_channel(session, gateway_id=GATEWAY, channel_id=channel, asset_tag=tag,
                              valid_from=from_ms(at_ms), actor=None, clock=clock)


def test_a_bound_channel_resolves_to_its_metric_and_asset_tags(engine, clock):
    resolver = DbResolver(engine, clock=clock)
    assert isinstance(resolver, Resolver)
    answer = resolver.resolve(GATEWAY, "fridge1.temp", T0_MS + 5000)
    assert answer == Resolved("temperature", {"asset": "VF-0001", "ward": "ICU", "site": "RGH"},
                              T0_MS, None)
    assert series_of(GATEWAY, "fridge1.temp", answer) == (
        "temperature", (("asset", "VF-0001"), ("channel", "fridge1.temp"), ("gateway", GATEWAY),
                        ("site", "RGH"), ("ward", "ICU")))


def test_readings_before_the_binding_unknown_channels_and_unknown_gateways_are_unbound(engine, clock):
    resolver = DbResolver(engine, clock=clock)
    assert resolver.resolve(GATEWAY, "fridge1.temp", T0_MS - 1) is None
    assert resolver.resolve(GATEWAY, "spare.1", T0_MS + 1) is None
    assert resolver.resolve(GATEWAY, "no.such.channel", T0_MS + 1) is None
    assert resolver.resolve("gw-unknown", "fridge1.temp", T0_MS + 1) is None


def test_a_rebound_channel_splits_history_at_the_new_binding(engine, clock):
    switch = T0_MS + 1_800_000
    _rebind(engine, clock, "fridge1.temp", "VF-0002", switch)
    resolver = DbResolver(engine, clock=clock)
    before = resolver.resolve(GATEWAY, "fridge1.temp", switch - 1)
    after = resolver.resolve(GATEWAY, "fridge1.temp", switch)
    assert (before.tags["asset"], before.valid_from_ms, before.valid_until_ms) == ("VF-0001", T0_MS, switch)
    assert (after.tags["asset"], after.tags["ward"], after.valid_from_ms, after.valid_until_ms) == (
        "VF-0002", "PHARM", switch, None)


def test_a_binding_made_by_another_process_is_seen_after_the_check_interval(engine, clock, tmp_path):
    resolver = DbResolver(engine, clock=clock, check_interval_s=1.0, ttl_s=3600)
    at = T0_MS + 60_000
    assert resolver.resolve(GATEWAY, "spare.1", at) is None
    other = open_engine(str(engine.url))  # a second connection pool, as the web process has
    try:
        _rebind(other, clock, "spare.1", "VF-0002", T0_MS + 1000)
    finally:
        other.dispose()
    assert resolver.resolve(GATEWAY, "spare.1", at) is None  # still cached
    clock.advance(1.0)
    assert resolver.resolve(GATEWAY, "spare.1", at).tags["asset"] == "VF-0002"


def test_invalidate_forgets_at_once(engine, clock):
    resolver = DbResolver(engine, clock=clock, check_interval_s=3600, ttl_s=3600)
    assert resolver.resolve(GATEWAY, "spare.1", T0_MS + 60_000) is None
    _rebind(engine, clock, "spare.1", "PM-0001", T0_MS + 1000)
    assert resolver.resolve(GATEWAY, "spare.1", T0_MS + 60_000) is None
    resolver.invalidate(GATEWAY)
    assert resolver.resolve(GATEWAY, "spare.1", T0_MS + 60_000).tags["asset"] == "PM-0001"


def test_moving_an_asset_to_another_ward_changes_its_ward_tag(engine, clock):
    resolver = DbResolver(engine, clock=clock, check_interval_s=0.5)
    assert resolver.resolve(GATEWAY, "dock1.current", T0_MS + 1).tags["ward"] == "ICU"
    with session_scope(engine) as session:
        theatre = next(d for d in org.list_departments(session)
                       if d.code == "THEATRE")
        clock.advance(1)
        assets.update_asset(session, "IPD-0001", {"department_id": theatre.id}, actor=None, clock=clock)
    assert resolver.resolve(GATEWAY, "dock1.current", T0_MS + 1).tags["ward"] == "THEATRE"


def test_a_database_that_cannot_be_read_raises_a_store_error(clock, empty_relational_url):
    from wardlink.hub.errors import StoreError

    resolver = DbResolver(open_engine(empty_relational_url), clock=clock)
    with pytest.raises(StoreError, match="channel bindings"):
        resolver.resolve(GATEWAY, "fridge1.temp", T0_MS)


def test_cache_expires_after_its_ttl(engine, clock):
    resolver = DbResolver(engine, clock=clock, check_interval_s=10_000, ttl_s=60)
    assert resolver.resolve(GATEWAY, "spare.1", T0_MS + 5000) is None
    _rebind(engine, clock, "spare.1", "PM-0001", T0_MS + 1000)
    clock.advance(timedelta(seconds=60).total_seconds())
    assert resolver.resolve(GATEWAY, "spare.1", T0_MS + 5000).tags["asset"] == "PM-0001"
