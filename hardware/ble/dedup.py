"""Drop repeated advertisements and replayed encrypted ones, and survive device reboots.

Sensors repeat each measurement in several advertisements so that one gets through;
BTHome marks them with a packet id (object 0x00, 8 bits, wraps) and RuuviTag with a
measurement sequence number (16 bits). A repeat of the last id is a duplicate.

Encrypted BTHome packets carry a 32-bit counter that must grow; a packet whose counter
does not is a replay. A device that reboots starts counting again from a low value, so
the policy decides when a lower counter is believed:

* ``"gap"`` (default): accepted when the device has been silent for ``reset_gap_s``
  (a reboot takes seconds of silence; a replay attacker who must also wait that long
  can only inject one stale packet per gap). Each such acceptance is counted as a reset.
* ``"strict"``: never accepted; the device stays refused until the gateway restarts.
"""

from __future__ import annotations

from dataclasses import dataclass

from wardlink.hardware.errors import ConfigError

POLICIES = ("gap", "strict")
NEW, DUPLICATE, REPLAY, RESET = "new", "duplicate", "replay", "reset"


@dataclass
class GuardStats:
    """What the guard dropped or let through after a reset."""

    accepted: int = 0
    duplicates: int = 0
    replays: int = 0
    resets: int = 0


class SequenceGuard:
    """Per-device memory of the last packet id / counter and when it was accepted."""

    def __init__(self, policy: str = "gap", reset_gap_s: float = 30.0) -> None:
        if policy not in POLICIES:
            raise ConfigError(f"counter_policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
        if reset_gap_s < 0:
            raise ConfigError(f"reset_gap_s: must be >= 0, got {reset_gap_s}")
        self.policy = policy
        self.reset_gap_s = reset_gap_s
        self.stats = GuardStats()
        self._last_id: int | None = None
        self._counter: int | None = None
        self._last_ts: float | None = None

    def check(self, ts: float, *, packet_id: int | None = None, counter: int | None = None) -> str:
        """Return NEW, DUPLICATE, REPLAY or RESET for a packet heard at ``ts``; remember NEW/RESET."""
        verdict = self._verdict(ts, packet_id, counter)
        if verdict in (NEW, RESET):
            self.stats.accepted += 1
            self.stats.resets += verdict == RESET
            self._last_ts = ts
            self._last_id = packet_id if packet_id is not None else self._last_id
            self._counter = counter if counter is not None else self._counter
        elif verdict == DUPLICATE:
            self.stats.duplicates += 1
        else:
            self.stats.replays += 1
        return verdict

    def _verdict(self, ts: float, packet_id: int | None, counter: int | None) -> str:
        if counter is not None and self._counter is not None:
            if counter == self._counter:
                return DUPLICATE
            if counter < self._counter:
                silent = ts - self._last_ts if self._last_ts is not None else 0.0
                if self.policy == "gap" and silent >= self.reset_gap_s:
                    return RESET
                return REPLAY
            return NEW
        if packet_id is not None and packet_id == self._last_id:
            return DUPLICATE
        return NEW
