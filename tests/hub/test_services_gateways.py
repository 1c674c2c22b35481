"""Gateways, channels and bindings with validity intervals that never overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from relational_support import GATEWAY, T0_S, actor, clock, engine, session
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from wardlink.hub.db.models import AuditLog, ChannelBinding
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.services.gateways import registry as gateways

T0 = datetime.fromtimestamp(T0_S, UTC)


def _bind(session, clock, channel, tag, start=None, end=None, who=None):
    return gateways.bind_channel(session, gateway_id=GATEWAY, channel_id=channel, asset_tag=tag,
                                 valid_from=start, valid_to=end, actor=who, clock=clock)


def _history(session, channel):
    ch = gateways.get_channel(session, GATEWAY, channel)
    return [(b.asset.tag, b.valid_from, b.valid_to) for b in
            session.scalars(select(ChannelBinding).where(ChannelBinding.channel_pk == ch.id)
                            .order_by(ChannelBinding.valid_from))]


def test_binding_defaults_to_now_with_the_channels_metric(session, clock):
    binding = _bind(session, clock, "spare.1", "VF-0002", who=actor(session, "tech"))
    assert (binding.metric, binding.valid_from, binding.valid_to) == ("temperature", gateways.utc_now(clock), None)
    row = session.scalars(select(AuditLog).where(AuditLog.action == "binding.create")
                          .order_by(AuditLog.seq.desc())).first()
    assert (row.entity_id, row.actor) == (f"{GATEWAY}/spare.1", "tech")


def test_rebinding_closes_the_open_binding_at_the_new_start(session, clock):
    switch = T0 + timedelta(minutes=30)
    _bind(session, clock, "fridge1.temp", "VF-0002", start=switch)
    assert _history(session, "fridge1.temp") == [("VF-0001", T0, switch), ("VF-0002", switch, None)]

    def at(moment):
        return [b.asset.tag for b in gateways.bindings_at(session, moment) if b.channel.channel_id == "fridge1.temp"]

    assert at(switch - timedelta(microseconds=1)) == ["VF-0001"]
    assert at(switch) == ["VF-0002"]
    assert at(T0 - timedelta(seconds=1)) == []
    assert "binding.close" in session.scalars(select(AuditLog.action)).all()


def test_a_new_binding_may_not_start_before_the_open_one(session, clock):
    with pytest.raises(InvalidInput, match="must start after"):
        _bind(session, clock, "fridge1.temp", "VF-0002", start=T0)
    with pytest.raises(InvalidInput, match="must start after"):
        _bind(session, clock, "fridge1.temp", "VF-0002", start=T0 - timedelta(minutes=5))
    assert _history(session, "fridge1.temp") == [("VF-0001", T0, None)]


def test_history_can_be_filled_in_before_the_open_binding_but_never_overlapping(session, clock):
    early = T0 - timedelta(days=2)
    _bind(session, clock, "fridge1.temp", "VF-0002", start=early, end=T0 - timedelta(days=1))
    with pytest.raises(InvalidInput, match="must not overlap"):
        _bind(session, clock, "fridge1.temp", "PM-0001", start=early + timedelta(hours=1),
              end=early + timedelta(hours=2))
    with pytest.raises(InvalidInput, match="must start after|must not overlap"):
        _bind(session, clock, "fridge1.temp", "PM-0001", start=T0 - timedelta(hours=1),
              end=T0 + timedelta(hours=1))
    with pytest.raises(InvalidInput, match="valid_to: must be after"):
        _bind(session, clock, "fridge1.temp", "PM-0001", start=T0 - timedelta(hours=3),
              end=T0 - timedelta(hours=4))
    assert _history(session, "fridge1.temp") == [("VF-0002", early, T0 - timedelta(days=1)), ("VF-0001", T0, None)]


def test_unbinding_ends_the_open_binding(session, clock):
    closed = gateways.unbind_channel(session, gateway_id=GATEWAY, channel_id="dock1.current", actor=None,
                                     clock=clock)
    assert closed.valid_to == gateways.utc_now(clock)
    assert gateways.unbind_channel(session, gateway_id=GATEWAY, channel_id="dock1.current", actor=None,
                                   clock=clock) is None


def test_binding_a_channel_the_hub_has_no_record_of_records_it_with_the_metric_given(session, clock):
    binding = gateways.bind_channel(session, gateway_id=GATEWAY, channel_id="fresh.1", asset_tag="VF-0002",
                                    metric="temperature", actor=None, clock=clock)
    channel = gateways.get_channel(session, GATEWAY, "fresh.1")
    assert (channel.metric, binding.metric, binding.asset.tag) == ("temperature", "temperature", "VF-0002")
    assert _history(session, "fresh.1") == [("VF-0002", binding.valid_from, None)]


def test_naive_times_and_unknown_names_are_refused(session, clock):
    with pytest.raises(InvalidInput, match="timezone-aware"):
        _bind(session, clock, "spare.1", "VF-0002", start=datetime(2026, 1, 2))
    with pytest.raises(InvalidInput, match="nope is new to the hub; say what it measures"):
        _bind(session, clock, "nope", "VF-0002")  # an unknown channel is recorded only with its metric
    with pytest.raises(InvalidInput, match="channel_id"):
        gateways.bind_channel(session, gateway_id=GATEWAY, channel_id="has space", asset_tag="VF-0002",
                              metric="temperature", actor=None, clock=clock)
    with pytest.raises(NotFound, match="asset 'NOPE'"):
        _bind(session, clock, "spare.1", "NOPE")
    with pytest.raises(InvalidInput, match="gateway_id"):
        gateways.register_gateway(session, gateway_id="bad id/with slash", actor=None, clock=clock)
    with pytest.raises(InvalidInput, match="channel_id"):
        gateways.upsert_channel(session, gateway_id=GATEWAY, channel_id="has space", metric="x",
                                actor=None, clock=clock)
    with pytest.raises(InvalidInput, match="interval_s"):
        gateways.upsert_channel(session, gateway_id=GATEWAY, channel_id="c2", metric="x", interval_s=0,
                                actor=None, clock=clock)


def test_the_database_itself_refuses_two_open_bindings_for_one_channel(session):
    ch = gateways.get_channel(session, GATEWAY, "fridge1.temp")
    asset_id = session.execute(text("SELECT id FROM assets WHERE tag = 'VF-0002'")).scalar_one()
    with pytest.raises(IntegrityError):
        session.execute(text("INSERT INTO channel_bindings (channel_pk, asset_id, metric, valid_from, created_at) "
                             "VALUES (:c, :a, 'temperature', '2026-02-01 00:00:00', '2026-02-01 00:00:00')"),
                        {"c": ch.id, "a": asset_id})


def test_registering_and_describing_again_changes_nothing(session, clock):
    count = session.query(AuditLog).count()
    gw = gateways.find_gateway(session, GATEWAY)
    gateways.register_gateway(session, gateway_id=GATEWAY, name=gw.name, department_id=gw.department_id,
                              location_id=gw.location_id, actor=None, clock=clock)
    gateways.upsert_channel(session, gateway_id=GATEWAY, channel_id="fridge1.temp", metric="temperature",
                            unit="degC", driver="ds18b20", interval_s=2.0, actor=None, clock=clock)
    assert session.query(AuditLog).count() == count
    gateways.upsert_channel(session, gateway_id=GATEWAY, channel_id="fridge1.temp", metric="temperature",
                            unit="degC", driver="ds18b20", interval_s=10, actor=None, clock=clock)
    assert session.query(AuditLog).count() == count + 1
    assert gateways.stale_after(gateways.get_channel(session, GATEWAY, "fridge1.temp")) == timedelta(seconds=60)


def test_status_reports_update_the_gateway_unless_they_are_older(session, clock):
    now = gateways.utc_now(clock)
    gw = gateways.record_status(session, gateway_id=GATEWAY, state="online", seen_at=now, boot_id="b2",
                                buffer_depth=17, software_version="1.2.3")
    assert gw.gateway_id == GATEWAY
    link = gateways.get_link(session, GATEWAY)
    assert (link.state, link.buffer_depth, link.status_boot, link.version) == ("online", 17, "b2", "1.2.3")
    assert link.last_seen_ms == gateways.to_ms(now) and link.rules_state is None
    gateways.record_status(session, gateway_id=GATEWAY, state="offline", seen_at=now - timedelta(seconds=5))
    assert gateways.get_link(session, GATEWAY).state == "online"
    with pytest.raises(InvalidInput, match="state"):
        gateways.record_status(session, gateway_id=GATEWAY, state="sleepy", seen_at=now)
    stranger = gateways.record_status(session, gateway_id="gw-stranger", state="online", seen_at=now)
    assert gateways.get_link(session, stranger.gateway_id).state == "online"
    assert session.scalar(select(AuditLog.actor).where(AuditLog.entity_id == "gw-stranger")) == "ingest"


def test_gateway_state_comes_from_the_link_row_and_is_unknown_without_one(session, engine, clock):
    silent = gateways.register_gateway(session, gateway_id="gw-silent", actor=None, clock=clock)
    gw = gateways.record_status(session, gateway_id=GATEWAY, state="online", seen_at=gateways.utc_now(clock),
                                buffer_depth=3, software_version="2.0")
    session.commit()
    states = gateways.gateway_states(engine, [gw, silent], now=gateways.utc_now(clock))
    assert (states[GATEWAY].status, states[GATEWAY].buffer_depth, states[GATEWAY].software_version) == \
        ("online", 3, "2.0")
    assert (states["gw-silent"].status, states["gw-silent"].last_seen_at) == ("unknown", None)


def test_an_online_gateway_silent_for_longer_than_its_threshold_is_stalled():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    # Heard at least every min(shortest channel interval, 60 s status refresh); three such gaps,
    # never under the configured minimum.
    assert gateways.stall_after([1.0, 5.0, None]) == timedelta(seconds=90)
    assert gateways.stall_after([45.0]) == timedelta(seconds=135)
    assert gateways.stall_after([300.0]) == timedelta(seconds=180)
    assert gateways.stall_after([], minimum_s=240) == timedelta(seconds=240)
    after = timedelta(seconds=90)
    heard = now - timedelta(seconds=91)
    link = gateways.judge_link("online", heard, now, after)
    assert (link.state, link.reported, link.stalled_since) == ("stalled", "online", heard)
    assert gateways.judge_link("online", now - after, now, after).state == "online"  # not longer than
    assert gateways.judge_link("offline", heard, now, after).state == "offline"  # the Will speaks
    assert gateways.judge_link("online", None, now, after).state == "online"  # never heard: no judgement
    assert gateways.judge_link(None, heard, now, after).state == "unknown"
