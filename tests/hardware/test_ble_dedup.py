"""Duplicate and replay detection, and the counter-reset policy for rebooted devices."""

import pytest

from wardlink.hardware.ble.dedup import DUPLICATE, NEW, REPLAY, RESET, SequenceGuard
from wardlink.hardware.errors import ConfigError


def test_repeated_packet_ids_are_duplicates_and_wrapping_ids_are_new():
    guard = SequenceGuard()
    assert [guard.check(t, packet_id=pid) for t, pid in [(0, 254), (1, 254), (2, 255), (3, 0), (4, 0)]] == [
        NEW, DUPLICATE, NEW, NEW, DUPLICATE]
    assert (guard.stats.accepted, guard.stats.duplicates) == (3, 2)


def test_growing_counters_are_accepted_and_an_old_one_is_a_replay():
    guard = SequenceGuard(reset_gap_s=30)
    assert guard.check(0, counter=100) == NEW
    assert guard.check(1, counter=100) == DUPLICATE
    assert guard.check(2, counter=101) == NEW
    assert guard.check(3, counter=57) == REPLAY
    assert guard.stats.replays == 1


def test_a_lower_counter_after_a_silent_gap_is_a_reboot():
    guard = SequenceGuard("gap", reset_gap_s=30)
    guard.check(0, counter=5000)
    assert guard.check(29.9, counter=1) == REPLAY  # too soon: could be a replay
    assert guard.check(40.0, counter=1) == RESET  # 40 s since the last accepted packet
    assert guard.check(41.0, counter=2) == NEW
    assert guard.stats.resets == 1


def test_strict_policy_never_believes_a_lower_counter():
    guard = SequenceGuard("strict")
    guard.check(0, counter=5000)
    assert guard.check(3600, counter=1) == REPLAY


def test_policy_config_is_checked():
    with pytest.raises(ConfigError, match="counter_policy: must be one of gap, strict, got 'lenient'"):
        SequenceGuard("lenient")
    with pytest.raises(ConfigError, match="reset_gap_s: must be >= 0"):
        SequenceGuard("gap", -1)
