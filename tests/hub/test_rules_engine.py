"""The rules engine on a real seeded SQLite database: alerts, work orders, meters and state that
survives a restart, with time from a manual clock."""

from __future__ import annotations

import pytest
from relational_support import GATEWAY, T0_S, clock, engine
from rules_support import alerts, make_engine, outbox, point, series
from sqlalchemy import select, text

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, WorkOrder
from wardlink.hub.db.models.rules import RuleState
from wardlink.hub.notify.dispatcher import Dispatcher
from wardlink.hub.notify.webhook import WebhookNotifier
from wardlink.hub.rules import RulesEngine
from wardlink.hub.rules.meters import list_meters, meter_hours
from wardlink.hub.services.gateways import registry as gateway_service
from wardlink.hub.services.people import org
from wardlink.hub.telemetry import Point
from wardlink.protocol import Event, Status

FRIDGE_HIGH = {"name": "fridge-high", "kind": "threshold", "severity": "critical",
               "match": {"metric": "temperature", "category": "Medical refrigerator"},
               "above": 8.0, "for_s": 300, "hysteresis": 0.5, "gap_s": 600}


def now_ms(clock):
    return round(clock.now() * 1000)


def hook_dispatcher(db, clock):
    """A dispatcher whose webhook target is never called here: only the outbox is inspected."""
    return Dispatcher(db, {"ops": WebhookNotifier("ops", url="http://127.0.0.1:9/hook")}, clock=clock)


# --------------------------------------------------------------------------- thresholds


def test_a_fridge_too_warm_for_five_minutes_opens_one_alert_and_a_work_order_then_clears(engine, clock):
    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "work_order": {"priority": "high"}}])
    start = now_ms(clock)
    out = rules.on_points(series("fridge1.temp", start, 60, [5.0, 8.4, 8.6, 8.9, 9.2, 9.4]))
    assert out.opened == 0  # 8.4 at 60 s, five minutes not yet over at 300 s
    out = rules.on_points(series("fridge1.temp", start + 360_000, 60, [9.3, 9.1])
                          + series("room.temp", start, 60, [30.0, 31.0]))  # not a fridge: no rule
    assert (out.opened, out.work_orders) == (1, 1)
    [(alert, lc)] = alerts(engine)
    assert (alert.rule, alert.severity, alert.state, alert.channel, alert.value) == \
        ("fridge-high", "critical", "open", "fridge1.temp", 9.3)
    assert alert.title == "VF-0001 ICU medication refrigerator: temperature 9.3 °C above 8 °C for 5 min"
    assert lc.historical is False and lc.subject == "asset:VF-0001"
    assert lc.condition_since.timestamp() * 1000 == start + 60_000
    with session_scope(engine, readonly=True) as s:
        order = s.get(WorkOrder, lc.work_order_id)
        assert (order.kind, order.state, order.priority, order.alert_id, order.asset.tag) == \
            ("corrective", "pending", "high", alert.id, "VF-0001")
        assert order.department.code == "ICU"
        actions = s.scalars(select(AuditLog.action).where(AuditLog.actor == "rules").order_by(AuditLog.seq)).all()
    assert actions == ["alert.open", "workorder.create"]

    # 7.6 is below 8 but not by the 0.5 hysteresis; 7.4 is
    out = rules.on_points(series("fridge1.temp", start + 480_000, 60, [7.6, 8.2, 7.4]))
    assert out.resolved == 1
    [(alert, lc)] = alerts(engine)
    assert alert.state == "resolved" and alert.acknowledged_at is None and alert.resolved_by_id is None
    assert alert.resolution_note.startswith("Cleared automatically at 2026-01-01T01:10:00+00:00: temperature back "
                                            "to 7.4 °C")
    assert lc.open_key is None


def test_readings_are_evaluated_in_timestamp_order_within_a_batch(engine, clock):
    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "for_s": 120}])
    start = now_ms(clock)
    shuffled = series("fridge1.temp", start, 60, [9.0, 9.1, 9.2, 7.0])
    shuffled = [shuffled[3], shuffled[1], shuffled[0], shuffled[2]]
    out = rules.on_points(shuffled)
    assert (out.opened, out.resolved, out.duplicates) == (1, 1, 0)


def test_at_most_one_alert_is_open_per_rule_and_asset_even_with_two_probes(engine, clock):
    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "for_s": 0}])
    start = now_ms(clock)

    def probe(channel, offset_s, value):
        return Point.of("temperature", {"gateway": GATEWAY, "channel": channel, "asset": "VF-0001",
                                        "ward": "ICU", "site": "RGH"}, start + offset_s * 1000, value)

    out = rules.on_points([probe("fridge1.temp", 0, 9.0), probe("fridge1.temp2", 0, 9.5)])
    assert out.opened == 1
    out = rules.on_points([probe("fridge1.temp", 60, 6.0), probe("fridge1.temp2", 60, 9.6)])
    assert out.resolved == 0  # the second probe still reads high
    assert [a.state for a, _ in alerts(engine)] == ["open"]
    out = rules.on_points([probe("fridge1.temp2", 120, 6.0)])
    assert out.resolved == 1
    out = rules.on_points([probe("fridge1.temp", 180, 9.9)])
    assert [a.state for a, _ in alerts(engine)] == ["resolved", "open"]  # a new excursion, a new alert


def test_a_restart_in_the_middle_of_a_for_duration_continues_it(engine, clock):
    first = make_engine(engine, clock, [FRIDGE_HIGH])
    start = now_ms(clock)
    assert first.on_points(series("fridge1.temp", start, 60, [8.5, 8.7, 8.8])).opened == 0
    del first  # the process stops; a new one starts on the same database
    clock.advance(180)
    second = RulesEngine(engine, clock=clock)
    out = second.on_points(series("fridge1.temp", start + 180_000, 60, [8.9, 9.0, 9.1]))
    assert out.opened == 1
    [(alert, lc)] = alerts(engine)
    assert lc.condition_since.timestamp() * 1000 == start  # measured from before the restart
    assert "for 5 min" in alert.title


def test_a_redelivered_batch_is_ignored(engine, clock):
    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "for_s": 0}])
    batch = series("fridge1.temp", now_ms(clock), 2, [9.0, 7.0, 9.0])
    first = rules.on_points(batch)
    again = rules.on_points(batch)
    assert (first.opened, first.resolved, again.opened, again.duplicates) == (2, 1, 0, 3)


# --------------------------------------------------------------------------- late and backfilled data


def test_a_late_batch_raises_a_historical_alert_that_is_not_a_fresh_emergency(engine, clock):
    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "notify": ["ops"],
                                         "escalate": [{"after_s": 60, "notify": ["ops"]}]}],
                        notifiers={"ops": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}},
                        dispatcher=hook_dispatcher(engine, clock))
    start = now_ms(clock) - 3_600_000  # an hour of backlog replayed after an outage
    excursion = [5.0] + [9.0] * 7 + [5.0]
    out = rules.on_points(series("fridge1.temp", start, 60, excursion, late=True))
    assert (out.opened, out.historical, out.resolved) == (1, 1, 1)
    [(alert, lc)] = alerts(engine)
    assert lc.historical and alert.title.startswith("Historical: VF-0001")
    assert "reached the hub late" in alert.detail and "reached the hub late" in alert.resolution_note
    assert [(o.event, o.payload["historical"]) for o in outbox(engine)] == [("historical", True),
                                                                            ("resolved", True)]
    clock.advance(600)
    assert rules.tick(deliver=False).escalated == 0


def test_live_data_promotes_a_historical_alert_whose_condition_still_holds(engine, clock):
    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "notify": ["ops"]}],
                        notifiers={"ops": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}},
                        dispatcher=hook_dispatcher(engine, clock))
    now = now_ms(clock)
    out = rules.on_points(series("fridge1.temp", now - 600_000, 60, [9.0] * 8, late=True))
    assert (out.opened, out.historical) == (1, 1)
    out = rules.on_points([point("fridge1.temp", now, 9.4)])
    assert out.promoted == 1 and out.opened == 0
    [(alert, lc)] = alerts(engine)
    assert not lc.historical and not alert.title.startswith("Historical")
    assert "Confirmed by live data" in alert.detail and alert.value == 9.4
    events = [(o.event, o.payload["promoted"]) for o in outbox(engine)]
    assert events == [("historical", False), ("opened", True)]
    assert rules.on_points([point("fridge1.temp", now + 60_000, 7.0)]).resolved == 1


def test_an_excursion_replayed_into_a_gap_after_live_data_resumed_is_found_as_history(engine, clock):
    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "gap_s": 30}])
    t = now_ms(clock)
    live = series("fridge1.temp", t, 10, [5.0, 5.1]) + series("fridge1.temp", t + 1_800_000, 10, [5.2, 5.1])
    assert rules.on_points(live).opened == 0  # a 30 minute hole: the gateway lost its uplink
    backlog = series("fridge1.temp", t + 20_000, 60, [5.0] * 3 + [9.5] * 8 + [6.0] * 3, late=True)
    out = rules.on_points(backlog)
    assert (out.opened, out.historical, out.resolved, out.duplicates) == (1, 1, 1, 0)
    [(alert, lc)] = alerts(engine)
    assert alert.state == "resolved" and lc.historical
    assert lc.condition_since.timestamp() * 1000 == t + 20_000 + 180_000
    again = rules.on_points(backlog)  # the gateway re-sent part of its backlog
    assert (again.opened, again.duplicates) == (0, len(backlog))
    with session_scope(engine, readonly=True) as s:
        state = s.scalar(select(RuleState))
        assert state.last_ts_ms == t + 1_810_000 and not state.active


# --------------------------------------------------------------------------- silence, offline, buffering


def _status(state, boot="boot-a", depth=None, lag_ms=None):
    return Status(GATEWAY, state, boot, buffer_depth=depth, oldest_unsent_ms=lag_ms)


def test_silence_is_told_apart_from_an_offline_gateway_and_from_a_buffering_one(engine, clock):
    rules = make_engine(engine, clock, [
        {"name": "fridge-silent", "kind": "channel_silent", "match": {"channel": "fridge1.temp"}},
        {"name": "gateway-down", "kind": "gateway_offline", "for_s": 60},
    ])
    rules.on_status(GATEWAY, _status("online", depth=0, lag_ms=0))
    rules.on_points([point("fridge1.temp", now_ms(clock), 5.0)])
    clock.advance(5)
    assert rules.tick().opened == 0  # 3 x the 2 s interval not yet over
    rules.on_status(GATEWAY, _status("online", depth=4000, lag_ms=180_000))
    clock.advance(30)
    assert rules.tick().opened == 0  # the gateway holds a backlog: late, not silent
    rules.on_status(GATEWAY, _status("online", depth=0, lag_ms=0))
    out = rules.tick()
    assert out.opened == 1
    [(alert, _)] = alerts(engine, "fridge-silent")
    assert "no data for 35 s while the gateway is online; expected every 2 s" in alert.title
    assert rules.on_points([point("fridge1.temp", now_ms(clock), 5.0)]).resolved == 1

    rules.on_status(GATEWAY, _status("offline"))
    clock.advance(61)
    out = rules.tick()
    assert out.opened == 1  # the gateway, not the channel
    [(offline, lc)] = alerts(engine, "gateway-down")
    assert offline.gateway.gateway_id == GATEWAY and lc.subject == f"gateway:{GATEWAY}"
    assert offline.title == f"gateway {GATEWAY}: gateway offline (Last Will) for 61 s"
    assert len(alerts(engine, "fridge-silent")) == 1
    rules.on_status(GATEWAY, _status("online", boot="boot-b", depth=0, lag_ms=0))
    assert [a.state for a, _ in alerts(engine, "gateway-down")] == ["resolved"]


def test_registered_channels_that_never_report_are_watched_too(engine, clock):
    rules = make_engine(engine, clock, [{"name": "silent", "kind": "channel_silent", "timeout_s": 120,
                                         "match": {"gateway": GATEWAY, "metric": "current"}}])
    assert rules.tick().opened == 0
    clock.advance(121)
    rules.tick()
    [(alert, lc)] = alerts(engine)
    assert lc.subject == "asset:IPD-0001" and "since monitoring began" in alert.title


def test_a_re_bound_channel_is_watched_for_its_new_asset_only(engine, clock):
    rules = make_engine(engine, clock, [{"name": "silent", "kind": "channel_silent", "timeout_s": 120,
                                         "match": {"channel": "fridge1.temp"}}])
    rules.on_points([point("fridge1.temp", now_ms(clock), 5.0)])  # state under VF-0001
    clock.advance(60)
    with session_scope(engine) as s:  # the probe moves to the pharmacy fridge
        gateway_service.bind_channel(s, gateway_id=GATEWAY, channel_id="fridge1.temp", asset_tag="VF-0002",
                                     actor=None, clock=clock)
    rules.reload()
    rules.tick()
    clock.advance(121)
    assert rules.tick().opened == 1
    [(alert, lc)] = alerts(engine)
    assert lc.subject == "asset:VF-0002"  # not a silence of the fridge the probe left


def test_a_will_from_an_earlier_boot_arriving_late_is_ignored(engine, clock):
    rules = make_engine(engine, clock, [{"name": "gateway-down", "kind": "gateway_offline", "for_s": 0}])
    rules.on_status(GATEWAY, _status("online", boot="boot-b"))
    assert rules.on_status(GATEWAY, _status("offline", boot="boot-a")).opened == 0
    assert rules.stats["stale_status"] == 1
    clock.advance(60)  # (silent for longer than its stall threshold, it would be alerted as stalled)
    assert rules.tick().opened == 0
    assert rules.on_status(GATEWAY, _status("offline", boot="boot-b")).opened == 1


def test_a_long_backlog_raises_a_buffering_alert(engine, clock):
    rules = make_engine(engine, clock, [{"name": "backlog", "kind": "gateway_buffering", "lag_s": 600,
                                         "for_s": 120}])
    rules.on_status(GATEWAY, _status("online", depth=90_000, lag_ms=3_600_000))
    assert rules.tick().opened == 0
    clock.advance(121)
    assert rules.tick().opened == 1
    [(alert, _)] = alerts(engine)
    assert "holding 90,000 readings; the oldest is 60 min old" in alert.title
    rules.on_status(GATEWAY, _status("online", depth=10, lag_ms=2000))
    assert [a.state for a, _ in alerts(engine)] == ["resolved"]


# --------------------------------------------------------------------------- digital, battery, presence


def test_a_door_left_open_is_raised_on_the_tick_from_its_events(engine, clock):
    rules = make_engine(engine, clock, [{"name": "door-open", "kind": "state_duration", "for_s": 300,
                                         "label": "door open", "match": {"metric": "door"}}])
    t = now_ms(clock)
    rules.on_events(GATEWAY, [Event("door.open", t, "fridge1.door")])
    clock.advance(299)
    assert rules.tick().opened == 0
    clock.advance(2)
    assert rules.tick().opened == 1
    [(alert, lc)] = alerts(engine)
    assert alert.title == "VF-0001 ICU medication refrigerator: door open for 5 min"
    assert alert.channel == "fridge1.door"
    out = rules.on_events(GATEWAY, [Event("door.close", t + 320_000, "fridge1.door")])
    assert out.resolved == 1


@pytest.mark.parametrize("skew_s", [600, -600], ids=["gateway 10 min behind", "gateway 10 min ahead"])
def test_a_gateway_clock_off_by_10_minutes_neither_invents_nor_hides_door_and_silence_alerts(engine, clock, skew_s):
    """A Raspberry Pi without a real-time clock may boot minutes off the hub's time (NTP not yet
    answering). Its timestamps are kept as they are; the engine judges them on its clock, as
    the offset its status shows (hub receipt time minus the status's own ``ts``)."""
    rules = make_engine(engine, clock, [
        {"name": "door-open", "kind": "state_duration", "for_s": 300, "label": "door open",
         "match": {"metric": "door"}},
        {"name": "fridge-silent", "kind": "channel_silent", "timeout_s": 120, "match": {"channel": "fridge1.temp"}},
    ])

    def gw_ms():  # the gateway's clock
        return now_ms(clock) - skew_s * 1000

    rules.on_status(GATEWAY, Status(GATEWAY, "online", "boot-a", gw_ms(), buffer_depth=0, oldest_unsent_ms=0))
    out = rules.on_events(GATEWAY, [Event("door.open", gw_ms(), "fridge1.door")])
    assert (out.opened, out.historical) == (0, 0)  # a live event, not a late one
    for _ in range(4):  # readings every 60 s: not silent, whatever their timestamps say
        rules.on_points([point("fridge1.temp", gw_ms(), 5.0)])
        clock.advance(60)
        assert rules.tick().opened == 0  # the door has been open 60-240 s of either clock
    rules.on_points([point("fridge1.temp", gw_ms(), 5.0)])
    # A retained status delivered again (its old ts) does not move the offset.
    rules.on_status(GATEWAY, Status(GATEWAY, "online", "boot-a", gw_ms() - 240_000, buffer_depth=0,
                                    oldest_unsent_ms=0))
    clock.advance(61)  # 301 s open; the fridge probe last heard 61 s ago
    out = rules.tick()
    assert (out.opened, out.historical) == (1, 0)
    [(door, lc)] = alerts(engine, "door-open")
    assert door.title == "VF-0001 ICU medication refrigerator: door open for 5 min"
    assert lc.historical is False
    clock.advance(60)  # the probe now silent for 121 s of hub time
    assert rules.tick().opened == 1
    [(silent, _)] = alerts(engine, "fridge-silent")
    assert "no data for 2 min" in silent.title


def test_battery_low_uses_the_battery_metric_by_default(engine, clock):
    rules = make_engine(engine, clock, [{"name": "battery", "kind": "battery_low", "below": 15}])
    t = now_ms(clock)
    tags = {"gateway": GATEWAY, "channel": "pump1.battery", "asset": "IP-0101", "ward": "ICU"}
    out = rules.on_points([Point.of("battery", tags, t, 40.0), Point.of("battery", tags, t + 60_000, 14.0),
                           Point.of("temperature", {**tags, "channel": "x"}, t, 1.0)])
    assert out.opened == 1
    [(alert, lc)] = alerts(engine)
    assert lc.subject == "asset:IP-0101" and alert.severity == "warning"


def test_an_asset_seen_in_another_ward_is_a_presence_mismatch(engine, clock):
    with session_scope(engine) as s:
        ed = next(d for d in org.list_departments(s) if d.code == "ED")
        gateway_service.register_gateway(s, gateway_id="gw-ed-01", department_id=ed.id, actor=None, clock=clock)
    rules = make_engine(engine, clock, [{"name": "pump-away", "kind": "presence_mismatch", "for_s": 600,
                                         "tags": {"c3:00:00:00:01:01": "IP-0101"}, "allowed": ["BME"]}])
    t = now_ms(clock)
    seen = {"tag": "c3:00:00:00:01:01", "rssi": -60}
    rules.on_events(GATEWAY, [Event("presence.changed", t, data={**seen, "gateway": "gw-ed-01",
                                                                  "previous": GATEWAY})])
    clock.advance(300)
    assert rules.tick().opened == 0
    clock.advance(301)
    assert rules.tick().opened == 1
    [(alert, lc)] = alerts(engine)
    assert lc.subject == "asset:IP-0101"
    assert alert.title == ("IP-0101 Volumetric infusion pump: IP-0101 Volumetric infusion pump located in ED "
                           "(gateway gw-ed-01) for 10 min; its home is BME, ICU")
    out = rules.on_events(GATEWAY, [Event("ble.seen", t + 700_000, data=seen)])  # near the ICU gateway
    assert out.resolved == 1


def test_presence_away_time_is_measured_on_the_clock_of_the_gateway_that_placed_the_asset(engine, clock):
    with session_scope(engine) as s:
        ed = next(d for d in org.list_departments(s) if d.code == "ED")
        gateway_service.register_gateway(s, gateway_id="gw-ed-01", department_id=ed.id, actor=None, clock=clock)
    rules = make_engine(engine, clock, [{"name": "pump-away", "kind": "presence_mismatch", "for_s": 600,
                                         "tags": {"c3:00:00:00:01:01": "IP-0101"}}])
    behind = now_ms(clock) - 600_000  # gw-ed-01 booted 10 minutes behind
    rules.on_status("gw-ed-01", Status("gw-ed-01", "online", "boot-a", behind, buffer_depth=0, oldest_unsent_ms=0))
    out = rules.on_events("gw-ed-01", [Event("ble.seen", behind, data={"tag": "c3:00:00:00:01:01", "rssi": -60})])
    assert (out.opened, out.historical) == (0, 0)
    clock.advance(599)
    assert rules.tick().opened == 0  # away 599 s, not the 1,199 s a comparison of clocks would say
    clock.advance(2)
    assert rules.tick().opened == 1
    [(alert, lc)] = alerts(engine)
    assert lc.historical is False and "located in ED (gateway gw-ed-01) for 10 min" in alert.title


# --------------------------------------------------------------------------- run hours


def test_run_hours_accumulate_per_asset_and_backfill_fills_an_outage(engine, clock):
    rules = make_engine(engine, clock, [{"name": "dock-running", "kind": "run_hours", "above": 0.2,
                                         "match": {"metric": "current"}, "gap_s": 120}])
    t = now_ms(clock)
    out = rules.on_points(series("dock1.current", t, 60, [0.5] * 11))  # 10 minutes running
    assert out.run_seconds == 600 and out.opened == 0
    rules.on_points(series("dock1.current", t + 1_800_000, 60, [0.5] * 2))  # a 20 minute hole
    with session_scope(engine, readonly=True) as s:
        assert meter_hours(s, "IPD-0001") == pytest.approx(660 / 3600)
    rules.on_points(series("dock1.current", t + 660_000, 60, [0.5] * 19, late=True))  # the replay
    with session_scope(engine, readonly=True) as s:
        # 0..31 min running, less the one minute between the last replayed reading (29 min) and the
        # first live one after the outage (30 min), which no track sees as consecutive
        assert meter_hours(s, "IPD-0001") == pytest.approx(1800 / 3600)
        [reading] = list_meters(s)
        assert (reading.asset, reading.meter, reading.last_ts_ms) == ("IPD-0001", "run_hours", t + 1_860_000)


# --------------------------------------------------------------------------- robustness


def test_a_corrupt_state_breaks_only_its_own_rule(engine, clock):
    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "for_s": 0},
                                        {**FRIDGE_HIGH, "name": "fridge-very-high", "above": 10.0, "for_s": 0}])
    t = now_ms(clock)
    rules.on_points([point("fridge1.temp", t, 5.0)])
    with session_scope(engine) as s:
        s.execute(text("UPDATE rule_states SET data = '{\"live\": {}, \"last\": 0, \"gaps\": [], \"bf\": null}' "
                       "WHERE rule_id = (SELECT id FROM rules WHERE name = 'fridge-high')"))
    out = rules.on_points([point("fridge1.temp", t + 60_000, 11.0)])
    assert (out.errors, out.opened) == (1, 1)
    assert [a.rule for a, _ in alerts(engine)] == ["fridge-very-high"]
    assert rules.stats["evaluation_errors"] == 1


def test_a_rule_edited_into_an_invalid_state_is_skipped_and_counted(engine, clock):
    rules = make_engine(engine, clock, [{**FRIDGE_HIGH, "for_s": 0},
                                        {**FRIDGE_HIGH, "name": "broken", "for_s": 0}])
    with session_scope(engine) as s:
        s.execute(text("UPDATE rules SET params = '{\"above\": \"warm\"}', updated_at = '2026-01-01 02:00:00' "
                       "WHERE name = 'broken'"))
    rules.reload()
    assert [r.name for r in rules.rules()] == ["fridge-high"]
    assert rules.stats["invalid_rules"] == 1
    assert rules.on_points([point("fridge1.temp", now_ms(clock), 9.0)]).opened == 1


@pytest.mark.timeout(120)
def test_the_engine_keeps_state_and_alerts_on_postgresql(postgres_url, clock):
    from relational_support import DEMO_CHANNELS

    from wardlink.hub.db import open_engine, upgrade
    from wardlink.hub.seed import seed_demo_site
    from wardlink.clock import ManualClock

    upgrade(postgres_url)
    db = open_engine(postgres_url)
    try:
        with session_scope(db) as s:
            seed_demo_site(s, gateway_id=GATEWAY, channels=DEMO_CHANNELS, clock=ManualClock(T0_S))
        start = now_ms(clock)
        first = make_engine(db, clock, [{**FRIDGE_HIGH, "work_order": True},
                                        {"name": "gateway-down", "kind": "gateway_offline", "for_s": 60}])
        first.on_points(series("fridge1.temp", start, 60, [8.5, 8.7, 8.8]))
        first.on_status(GATEWAY, _status("offline"))
        second = RulesEngine(db, clock=clock)
        out = second.on_points(series("fridge1.temp", start + 180_000, 60, [8.9, 9.0, 9.1]))
        assert (out.opened, out.work_orders) == (1, 1)
        [(alert, lc)] = alerts(db, "fridge-high")
        assert lc.condition_since.timestamp() * 1000 == start and alert.state == "open"
        clock.advance(61)
        assert second.tick().opened == 1
        assert [a.state for a, _ in alerts(db, "gateway-down")] == ["open"]
    finally:
        db.dispose()
