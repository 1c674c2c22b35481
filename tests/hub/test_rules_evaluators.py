"""Each rule kind's pure evaluator, fed readings, statuses, events and ticks with explicit times."""

from __future__ import annotations

import json

import pytest

from wardlink.hub.db.models.rules import RULE_KINDS
from wardlink.hub.rules.errors import RuleDefinitionError
from wardlink.hub.rules.evaluators import EVALUATORS, Clear, Context, EventInput, Raise, RunTime, Sample, StatusInput
from wardlink.hub.rules.evaluators.base import duration

T = 1_767_229_200_000  # 2026-01-01T01:00:00Z in ms
CTX = Context(now_ms=T, interval_s=60.0, unit="degC", metric="temperature")


def run(kind, params, inputs, ctx=CTX, state=None):
    """Feed (ts_s, value) samples; return the final state and [(ts_s, action)] in order."""
    ev = EVALUATORS[kind](params, rule="t")
    st = ev.initial() if state is None else state
    out = []
    for ts_s, value in inputs:
        old, before = st, json.dumps(st, sort_keys=True)
        st, actions = ev.on_sample(st, Sample(T + ts_s * 1000, value), ctx)
        assert json.dumps(old, sort_keys=True) == before  # pure: the input state is never modified
        json.dumps(st)  # and the new one is JSON-ready, as the engine persists it
        out += [(ts_s, a) for a in actions]
    return ev, st, out


def kinds(out):
    return [(ts, type(a).__name__) for ts, a in out]


def test_every_kind_has_an_evaluator_and_the_table_matches_the_constraint():
    assert set(EVALUATORS) == set(RULE_KINDS)


# --------------------------------------------------------------------------- threshold


def test_threshold_above_waits_out_for_s_then_raises_once():
    _, st, out = run("threshold", {"above": 8.0, "for_s": 300},
                     [(0, 7.0), (60, 8.5), (120, 9.0), (300, 8.9), (360, 9.5), (420, 9.9)])
    assert kinds(out) == [(360, "Raise")]
    raised = out[0][1]
    assert raised.since_ms == T + 60_000 and raised.value == 9.5
    assert raised.message == "temperature 9.5 °C above 8 °C for 5 min"
    assert st["active"] and st["peak"] == 9.9


def test_threshold_pending_is_cancelled_by_one_reading_back_inside():
    _, _, out = run("threshold", {"above": 8.0, "for_s": 300},
                    [(0, 8.5), (200, 7.9), (250, 8.5), (500, 8.6), (560, 8.7)])
    assert kinds(out) == [(560, "Raise")]  # the clock restarted at 250 s
    assert out[0][1].since_ms == T + 250_000


def test_threshold_hysteresis_keeps_the_alert_until_the_value_is_clearly_back():
    _, st, out = run("threshold", {"above": 8.0, "hysteresis": 0.5},
                     [(0, 8.2), (60, 7.9), (120, 7.6), (180, 8.1), (240, 7.5)])
    assert kinds(out) == [(0, "Raise"), (240, "Clear")]
    assert "peak 8.2 °C" in out[1][1].message
    assert not st["active"] and st["phase"] == "normal"


def test_threshold_clear_for_s_needs_the_value_to_stay_back():
    _, _, out = run("threshold", {"above": 8.0, "clear_for_s": 120},
                    [(0, 9.0), (60, 7.0), (120, 8.5), (180, 7.0), (240, 7.0), (300, 7.1)])
    assert kinds(out) == [(0, "Raise"), (300, "Clear")]


def test_threshold_below_and_outside_band_name_the_side_crossed():
    _, _, out = run("threshold", {"above": 8.0, "below": 2.0},
                    [(0, 1.5), (60, 5.0), (120, 8.4)])
    assert kinds(out) == [(0, "Raise"), (60, "Clear"), (120, "Raise")]
    assert "below 2 °C" in out[0][1].message and "above 8 °C" in out[2][1].message


def test_threshold_jumping_across_the_band_clears_then_raises_the_other_side():
    _, st, out = run("threshold", {"above": 8.0, "below": 2.0}, [(0, 9.0), (60, 1.0)])
    assert kinds(out) == [(0, "Raise"), (60, "Clear"), (60, "Raise")]
    assert st["cond"] == "low"


def test_threshold_failed_reads_neither_start_nor_clear():
    _, st, out = run("threshold", {"above": 8.0, "for_s": 120},
                     [(0, 9.0), (60, None), (120, 9.1), (180, None), (240, 7.0)])
    assert kinds(out) == [(120, "Raise"), (240, "Clear")]


def test_threshold_definitions_are_checked():
    with pytest.raises(RuleDefinitionError, match=r"rules\[t\].above: a threshold rule needs"):
        EVALUATORS["threshold"]({}, rule="t")
    with pytest.raises(RuleDefinitionError, match=r"rules\[t\].below: must be less than above"):
        EVALUATORS["threshold"]({"above": 2, "below": 8}, rule="t")
    with pytest.raises(RuleDefinitionError, match=r"rules\[t\].for_s: must be >= 0"):
        EVALUATORS["threshold"]({"above": 2, "for_s": -1}, rule="t")
    with pytest.raises(RuleDefinitionError, match=r"unknown parameter\(s\) abve"):
        EVALUATORS["threshold"]({"abve": 2}, rule="t")
    with pytest.raises(RuleDefinitionError, match="must be a finite number"):
        EVALUATORS["threshold"]({"above": float("nan")}, rule="t")


# --------------------------------------------------------------------------- battery


def test_battery_low_raises_below_and_clears_at_clear_above():
    _, _, out = run("battery_low", {"below": 20, "clear_above": 30},
                    [(0, 50), (60, 19), (120, 25), (180, 29.9), (240, 30)], ctx=Context(now_ms=T, unit="%"))
    assert kinds(out) == [(60, "Raise"), (240, "Clear")]
    with pytest.raises(RuleDefinitionError, match="clear_above: must be >= below"):
        EVALUATORS["battery_low"]({"below": 20, "clear_above": 10}, rule="t")


# --------------------------------------------------------------------------- rate of change


def test_rate_of_change_rise_within_the_window():
    _, st, out = run("rate_of_change", {"rise": 2.0, "window_s": 600, "hysteresis": 0.5},
                     [(0, 4.0), (120, 4.5), (240, 5.5), (360, 6.2), (480, 6.3), (600, 6.3), (700, 6.3),
                      (900, 6.2)])
    # At 700 s the window still holds 4.5 (from 120 s): a rise of 1.8 is under the limit of 2 but
    # not by the 0.5 hysteresis, so the alert holds. At 900 s the window starts at 6.2: cleared.
    assert kinds(out) == [(360, "Raise"), (900, "Clear")]
    assert out[0][1].since_ms == T  # measured from the window's lowest point
    assert "rose 2.2 °C in 6 min" in out[0][1].message
    assert len(st["lows"]) <= 3 and len(st["highs"]) <= 3  # monotonic queues, not every sample


def test_rate_of_change_slow_drift_is_not_a_fast_change():
    _, _, out = run("rate_of_change", {"rise": 2.0, "window_s": 600},
                    [(i * 300, 4.0 + i * 0.9) for i in range(10)])
    assert out == []  # 0.9 per 5 min never adds up to 2 inside a 10 minute window


def test_rate_of_change_fall_for_a_pressure_drop():
    _, _, out = run("rate_of_change", {"fall": 50.0, "window_s": 60},
                    [(0, 400.0), (20, 390.0), (40, 345.0), (60, 340.0), (80, 338.0), (200, 337.0)],
                    ctx=Context(now_ms=T, unit="kPa", metric="pressure"))
    assert kinds(out) == [(40, "Raise"), (200, "Clear")]
    assert out[0][1].message.startswith("pressure fell 55 kPa")


# --------------------------------------------------------------------------- digital state duration


def test_door_open_longer_than_for_s_raises_from_readings_and_clears_on_close():
    _, _, out = run("state_duration", {"for_s": 300, "label": "door open"},
                    [(0, 0), (10, 1), (200, 1), (310, 1), (400, 1), (500, 0)], ctx=Context(now_ms=T))
    assert kinds(out) == [(310, "Raise"), (500, "Clear")]
    assert out[0][1].message == "door open for 5 min" and out[0][1].since_ms == T + 10_000


def test_door_open_is_raised_on_the_tick_when_the_input_reports_only_on_change():
    ev = EVALUATORS["state_duration"]({"for_s": 300}, rule="t")
    st, _ = ev.on_sample(ev.initial(), Sample(T, 1.0), Context(now_ms=T))
    st, acts = ev.on_tick(st, Context(now_ms=T + 299_000))
    assert acts == []
    held, acts = ev.on_tick(st, Context(now_ms=T + 301_000, gateway_state="offline"))
    assert acts == []  # the door may have closed in data we have not received
    held, acts = ev.on_tick(st, Context(now_ms=T + 301_000, buffering=True))
    assert acts == []
    st, acts = ev.on_tick(st, Context(now_ms=T + 301_000, gateway_state="online"))
    assert [type(a) for a in acts] == [Raise] and acts[0].at_ms == T + 301_000
    st, acts = ev.on_tick(st, Context(now_ms=T + 900_000))
    assert acts == []  # raised once


# --------------------------------------------------------------------------- channel silent


def test_channel_silent_raises_after_factor_times_the_interval_while_the_gateway_is_online():
    ev = EVALUATORS["channel_silent"]({"factor": 3}, rule="t")
    st, _ = ev.on_sample(ev.initial(), Sample(T, 5.0), Context(now_ms=T))
    ctx = dict(interval_s=60.0, gateway_state="online")
    st, acts = ev.on_tick(st, Context(now_ms=T + 180_000, **ctx))
    assert acts == []
    st, acts = ev.on_tick(st, Context(now_ms=T + 181_000, **ctx))
    assert len(acts) == 1 and isinstance(acts[0], Raise)
    assert acts[0].message == "no data for 3 min while the gateway is online; expected every 60 s"
    st, acts = ev.on_sample(st, Sample(T + 200_000, 5.1), Context(now_ms=T + 200_000))
    assert [type(a) for a in acts] == [Clear] and not st["active"]


def test_channel_silent_is_suppressed_while_the_gateway_is_offline_or_buffering():
    ev = EVALUATORS["channel_silent"]({"timeout_s": 60}, rule="t")
    st, _ = ev.on_sample(ev.initial(), Sample(T, 5.0), Context(now_ms=T))
    for ctx in (Context(now_ms=T + 600_000, gateway_state="offline"),
                Context(now_ms=T + 600_000, gateway_state="online", buffering=True)):
        assert ev.on_tick(st, ctx)[1] == []
    assert len(ev.on_tick(st, Context(now_ms=T + 600_000, gateway_state=None))[1]) == 1


def test_a_channel_never_heard_is_watched_from_the_first_tick():
    ev = EVALUATORS["channel_silent"]({"timeout_s": 60}, rule="t")
    st, acts = ev.on_tick(ev.initial(), Context(now_ms=T))
    assert acts == [] and st["watch_from"] == T
    st, acts = ev.on_tick(st, Context(now_ms=T + 61_000))
    assert "since monitoring began" in acts[0].message


# --------------------------------------------------------------------------- gateway status


def _status(state, at_s, depth=None, lag_ms=None):
    return StatusInput(state, T + at_s * 1000, depth, lag_ms)


def test_gateway_offline_waits_out_the_grace_period_on_the_tick_and_clears_when_back():
    ev = EVALUATORS["gateway_offline"]({"for_s": 120}, rule="t")
    st, acts = ev.on_status(ev.initial(), _status("online", 0), Context(now_ms=T))
    st, acts = ev.on_status(st, _status("offline", 10), Context(now_ms=T + 10_000))
    assert acts == []
    st, acts = ev.on_tick(st, Context(now_ms=T + 100_000))
    assert acts == []
    st, acts = ev.on_tick(st, Context(now_ms=T + 131_000))
    assert isinstance(acts[0], Raise) and acts[0].since_ms == T + 10_000
    assert acts[0].message == "gateway offline (Last Will) for 2 min"
    st, acts = ev.on_status(st, _status("online", 400), Context(now_ms=T + 400_000))
    assert isinstance(acts[0], Clear) and "after 6 min" in acts[0].message


def test_a_reboot_within_the_grace_period_raises_nothing():
    ev = EVALUATORS["gateway_offline"]({"for_s": 60}, rule="t")
    st, _ = ev.on_status(ev.initial(), _status("offline", 0), Context(now_ms=T))
    st, acts = ev.on_status(st, _status("online", 30), Context(now_ms=T + 30_000))
    st, more = ev.on_tick(st, Context(now_ms=T + 600_000))
    assert acts == [] and more == []


def test_gateway_buffering_follows_the_reported_backlog_age():
    ev = EVALUATORS["gateway_buffering"]({"lag_s": 300}, rule="t")
    st, acts = ev.on_status(ev.initial(), _status("online", 0, 12, 900), Context(now_ms=T))
    assert acts == []  # a small live backlog is normal
    st, acts = ev.on_status(st, _status("online", 60, 5400, 420_000), Context(now_ms=T))
    assert isinstance(acts[0], Raise) and "holding 5,400 readings; the oldest is 7 min old" in acts[0].message
    st, acts = ev.on_status(st, _status("offline", 70), Context(now_ms=T))
    assert acts == [] and st["active"]  # offline is another rule's business
    st, acts = ev.on_status(st, _status("online", 600, 3, 500), Context(now_ms=T))
    assert isinstance(acts[0], Clear)


# --------------------------------------------------------------------------- presence


def _placed(ts_s, gateway, ward, kind="presence.changed"):
    return EventInput(kind, T + ts_s * 1000, gateway, ward, {})


def test_presence_mismatch_raises_away_from_home_and_clears_back_home():
    ev = EVALUATORS["presence_mismatch"]({"tags": {"ble-1": "IP-0101"}, "for_s": 120}, rule="t")
    ctx = Context(now_ms=T, home=frozenset({"ICU"}), label="IP-0101 pump")
    st, acts = ev.on_event(ev.initial(), _placed(0, "gw-icu-01", "ICU"), ctx)
    st, acts = ev.on_event(st, _placed(60, "gw-ed-01", "ED"), ctx)
    assert acts == []
    st, acts = ev.on_event(st, _placed(150, "gw-th-01", "THEATRE"), ctx)
    assert acts == []  # moving between foreign wards does not restart the clock...
    st, acts = ev.on_tick(st, Context(now_ms=T + 181_000, home=frozenset({"ICU"}), label="IP-0101 pump"))
    assert isinstance(acts[0], Raise) and acts[0].since_ms == T + 60_000  # ...away since 60 s
    assert acts[0].message == "IP-0101 pump located in THEATRE (gateway gw-th-01) for 2 min; its home is ICU"
    st, acts = ev.on_event(st, _placed(100, "gw-icu-01", "ICU"), ctx)
    assert acts == []  # older than what we hold
    st, acts = ev.on_event(st, EventInput("presence.changed", T + 200_000, None, None, {}), ctx)
    assert acts == [] and st["active"]  # lost is not a location
    st, acts = ev.on_event(st, _placed(300, "gw-icu-01", "ICU"), ctx)
    assert isinstance(acts[0], Clear)


def test_presence_definitions_are_checked():
    with pytest.raises(RuleDefinitionError, match="tags: must map at least one"):
        EVALUATORS["presence_mismatch"]({"tags": {}}, rule="t")
    with pytest.raises(RuleDefinitionError, match="events: must be among"):
        EVALUATORS["presence_mismatch"]({"tags": {"a": "B"}, "events": ["door.open"]}, rule="t")


# --------------------------------------------------------------------------- run hours


def test_run_hours_count_intervals_that_start_running_and_skip_gaps():
    ev, st, out = run("run_hours", {"above": 0.2, "hysteresis": 0.05, "gap_s": 120},
                      [(0, 0.0), (60, 0.5), (120, 0.5), (180, 0.17), (240, 0.1), (300, 0.6), (900, 0.6),
                       (960, None), (1020, 0.5), (1080, 0.0)],
                      ctx=Context(now_ms=T))
    # running through 60-240 (0.17 is still >= 0.2 - 0.05); 300-900 is longer than the gap;
    # 900-960 counts (running at 900); 960-1020 does not (the read failed); 1020-1080 counts
    assert [(ts, a.seconds) for ts, a in out] == [(120, 60.0), (180, 60.0), (240, 60.0), (960, 60.0),
                                                  (1080, 60.0)]
    assert all(isinstance(a, RunTime) for _, a in out)
    assert not st["running"]


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("ms, text", [(45_000, "45 s"), (300_000, "5 min"), (7_500_000, "2 h 5 min"),
                                      (3 * 86_400_000 + 4 * 3_600_000, "3 d 4 h")])
def test_durations_read_naturally(ms, text):
    assert duration(ms) == text
