"""Room presence from RSSI: smoothing, dwell, hysteresis margin and the away timeout."""

import pytest

from wardlink.hardware.ble.presence import PresenceConfig, PresenceTracker
from wardlink.hardware.errors import ConfigError


def feed(tracker, readings):
    """Feed (ts, gateway, rssi) readings for tag "pump"; return the events with their kind."""
    events = []
    for ts, gateway, rssi in readings:
        events += tracker.observe("pump", gateway, rssi, ts)
    return events


def kinds(events):
    return [(e["type"], e["data"].get("gateway"), e["ts"]) for e in events]


def test_a_tag_is_seen_only_after_the_dwell_time():
    tracker = PresenceTracker(PresenceConfig(enter_dbm=-75, dwell_s=10, smoothing="ema", alpha=1.0))
    events = feed(tracker, [(0, "ward-3", -60), (5, "ward-3", -61), (9, "ward-3", -60), (10, "ward-3", -62)])
    assert kinds(events) == [("ble.seen", "ward-3", 10), ("presence.changed", "ward-3", 10)]
    assert tracker.location["pump"] == "ward-3"


def test_a_short_spike_does_not_count():
    tracker = PresenceTracker(PresenceConfig(enter_dbm=-75, dwell_s=10, alpha=1.0))
    events = feed(tracker, [(0, "ward-3", -60), (4, "ward-3", -90), (8, "ward-3", -60), (12, "ward-3", -60)])
    assert events == []  # the dip at t=4 restarted the dwell


def test_noise_within_the_margin_does_not_flap():
    """Around the threshold, readings swing by +-5 dB; with a 6 dB margin the tag stays."""
    tracker = PresenceTracker(PresenceConfig(enter_dbm=-75, margin_db=6, dwell_s=4, alpha=1.0))
    feed(tracker, [(t, "ward-3", -70) for t in range(0, 6)])
    swings = [(6 + t, "ward-3", -80 if t % 2 else -72) for t in range(60)]
    assert feed(tracker, swings) == []
    assert tracker.is_near("pump", "ward-3")


def test_weak_signal_for_the_dwell_time_is_lost():
    tracker = PresenceTracker(PresenceConfig(enter_dbm=-75, margin_db=6, dwell_s=4, alpha=1.0))
    feed(tracker, [(t, "ward-3", -70) for t in range(0, 6)])
    events = feed(tracker, [(t, "ward-3", -85) for t in range(6, 12)])
    assert kinds(events) == [("ble.lost", "ward-3", 10), ("presence.changed", None, 10)]
    assert events[0]["data"]["reason"] == "weak"


def test_silence_beyond_the_away_timeout_is_lost_on_tick():
    tracker = PresenceTracker(PresenceConfig(dwell_s=0, away_timeout_s=60, alpha=1.0))
    feed(tracker, [(0, "ward-3", -60)])
    assert tracker.tick(59) == []
    events = tracker.tick(60)
    assert kinds(events) == [("ble.lost", "ward-3", 60), ("presence.changed", None, 60)]
    assert events[0]["data"]["reason"] == "timeout"


def test_moving_rooms_needs_the_margin_for_the_dwell_time():
    cfg = PresenceConfig(enter_dbm=-80, margin_db=6, dwell_s=10, alpha=1.0)
    tracker = PresenceTracker(cfg)
    feed(tracker, [(t, "ward-3", -65) for t in range(0, 11)])
    assert tracker.location["pump"] == "ward-3"
    # ward-4 hears it 3 dB stronger: within the margin, no move.
    events = feed(tracker, [(t, g, r) for t in range(11, 40) for g, r in (("ward-3", -65), ("ward-4", -62))])
    assert [e["type"] for e in events] == ["ble.seen"]
    assert tracker.location["pump"] == "ward-3"
    # ward-4 now 10 dB stronger: the move happens once the dwell has passed.
    events = feed(tracker, [(t, g, r) for t in range(40, 60) for g, r in (("ward-3", -70), ("ward-4", -60))])
    moves = [e for e in events if e["type"] == "presence.changed"]
    assert len(moves) == 1
    assert moves[0]["data"] == {"tag": "pump", "previous": "ward-3", "gateway": "ward-4", "rssi": -60.0}
    assert moves[0]["ts"] == 50


def test_ema_and_median_smoothing():
    ema = PresenceTracker(PresenceConfig(alpha=0.5))
    feed(ema, [(0, "g", -60), (1, "g", -80)])
    assert ema.smoothed("pump", "g") == -70
    median = PresenceTracker(PresenceConfig(smoothing="median", window=3))
    feed(median, [(0, "g", -60), (1, "g", -95), (2, "g", -62), (3, "g", -61)])
    assert median.smoothed("pump", "g") == -62  # median of the last three: -95, -62, -61


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alpha": 0}, "alpha"), ({"window": 0}, "window"), ({"away_timeout_s": 0}, "away_timeout_s"),
     ({"smoothing": "kalman"}, "smoothing: must be one of ema, median")],
)
def test_config_is_validated(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PresenceConfig(**kwargs)
