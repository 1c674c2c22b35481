"""Room-level presence of BLE tags from RSSI, with smoothing, hysteresis and timeouts.

One RSSI reading is noisy (multipath, body shadowing: +-10 dB is common), so each
(tag, gateway) pair keeps a smoothed value: an exponential moving average or the
median of the last readings. On top of it:

* a tag becomes *near* a gateway when the smoothed RSSI stays at or above ``enter_dbm``
  for ``dwell_s``, and stops being near when it stays below ``enter_dbm - margin_db``
  for ``dwell_s`` (``ble.seen`` / ``ble.lost``), or at once when the gateway has not heard
  it for ``away_timeout_s`` (``ble.lost`` with reason ``timeout``);
* a tag's *location* is the near gateway it is strongest at; it moves to another gateway
  only when that one beats the current by ``margin_db`` for ``dwell_s``
  (``presence.changed``). Without the margin and dwell, a tag half-way between two
  rooms flaps between them, which users of room-presence tools report.

Time comes from the readings' timestamps and from :meth:`PresenceTracker.tick`, which
the caller drives with the injected clock; nothing here reads the system clock.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

from wardlink.hardware.errors import ConfigError

SMOOTHING = ("ema", "median")


@dataclass(frozen=True)
class PresenceConfig:
    """Thresholds of the presence decision; validated on construction."""

    enter_dbm: float = -75.0
    margin_db: float = 6.0
    dwell_s: float = 10.0
    away_timeout_s: float = 60.0
    smoothing: str = "ema"
    alpha: float = 0.3
    window: int = 5

    def __post_init__(self) -> None:
        checks = {
            "margin_db": self.margin_db >= 0,
            "dwell_s": self.dwell_s >= 0,
            "away_timeout_s": self.away_timeout_s > 0,
            "alpha": 0 < self.alpha <= 1,
            "window": isinstance(self.window, int) and self.window >= 1,
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"{key}: out of range, got {getattr(self, key)!r}")
        if self.smoothing not in SMOOTHING:
            raise ConfigError(f"smoothing: must be one of {', '.join(SMOOTHING)}, got {self.smoothing!r}")


@dataclass
class _Link:
    """State of one (tag, gateway) pair."""

    readings: deque = field(default_factory=deque)
    smoothed: float | None = None
    last_heard: float = 0.0
    near: bool = False
    pending_since: float | None = None  # when the smoothed value first crossed the other way


class PresenceTracker:
    """Turns (tag, gateway, rssi, ts) readings into seen/lost/changed events."""

    def __init__(self, config: PresenceConfig | None = None) -> None:
        self.config = config or PresenceConfig()
        self._links: dict[tuple[str, str], _Link] = {}
        self.location: dict[str, str | None] = {}
        self._challenger: dict[str, tuple[str, float]] = {}

    def smoothed(self, tag: str, gateway: str) -> float | None:
        """Return the smoothed RSSI of ``tag`` at ``gateway`` (None if never heard)."""
        link = self._links.get((tag, gateway))
        return None if link is None else link.smoothed

    def is_near(self, tag: str, gateway: str) -> bool:
        """Tell whether ``tag`` currently counts as near ``gateway``."""
        link = self._links.get((tag, gateway))
        return bool(link and link.near)

    def observe(self, tag: str, gateway: str, rssi: float, ts: float) -> list[dict]:
        """Add one reading; return the events it causes."""
        link = self._links.setdefault((tag, gateway), _Link())
        link.last_heard = ts
        link.smoothed = self._smooth(link, float(rssi))
        events = self._update_near(tag, gateway, link, ts)
        return events + self._update_location(tag, ts)

    def tick(self, now: float) -> list[dict]:
        """Apply the away timeout and pending dwell decisions at time ``now``."""
        events: list[dict] = []
        for (tag, gateway), link in self._links.items():
            if link.near and now - link.last_heard >= self.config.away_timeout_s:
                link.near, link.pending_since = False, None
                link.readings.clear()
                link.smoothed = None
                events.append(_event("ble.lost", now, tag=tag, gateway=gateway, reason="timeout"))
            elif link.smoothed is not None:
                events += self._update_near(tag, gateway, link, now)
        for tag in {t for t, _ in self._links}:
            events += self._update_location(tag, now)
        return events

    def _smooth(self, link: _Link, rssi: float) -> float:
        if self.config.smoothing == "median":
            link.readings.append(rssi)
            while len(link.readings) > self.config.window:
                link.readings.popleft()
            return float(statistics.median(link.readings))
        if link.smoothed is None:
            return rssi
        return link.smoothed + self.config.alpha * (rssi - link.smoothed)

    def _update_near(self, tag: str, gateway: str, link: _Link, now: float) -> list[dict]:
        cfg = self.config
        crossing = (link.smoothed < cfg.enter_dbm - cfg.margin_db) if link.near else (link.smoothed >= cfg.enter_dbm)
        if not crossing:
            link.pending_since = None
            return []
        if link.pending_since is None:
            link.pending_since = now
        if now - link.pending_since < cfg.dwell_s:
            return []
        link.near, link.pending_since = not link.near, None
        rssi = round(link.smoothed, 1)
        if link.near:
            return [_event("ble.seen", now, tag=tag, gateway=gateway, rssi=rssi)]
        return [_event("ble.lost", now, tag=tag, gateway=gateway, reason="weak", rssi=rssi)]

    def _update_location(self, tag: str, now: float) -> list[dict]:
        near = {gw: link.smoothed for (t, gw), link in self._links.items() if t == tag and link.near}
        current = self.location.get(tag)
        if current is not None and current not in near:
            # The current room lost the tag: go to the best remaining one (or nowhere) now.
            best = max(near, key=near.get) if near else None
            return self._move(tag, current, best, now, near)
        if current is None:
            if not near:
                return []
            return self._move(tag, None, max(near, key=near.get), now, near)
        rivals = {gw: v for gw, v in near.items() if gw != current and v >= near[current] + self.config.margin_db}
        if not rivals:
            self._challenger.pop(tag, None)
            return []
        best = max(rivals, key=rivals.get)
        held = self._challenger.get(tag)
        if held is None or held[0] != best:
            self._challenger[tag] = (best, now)
            held = self._challenger[tag]
        if now - held[1] < self.config.dwell_s:
            return []
        return self._move(tag, current, best, now, near)

    def _move(self, tag: str, old: str | None, new: str | None, now: float, near: dict) -> list[dict]:
        self._challenger.pop(tag, None)
        self.location[tag] = new
        rssi = None if new is None else round(near[new], 1)
        return [_event("presence.changed", now, tag=tag, previous=old, gateway=new, rssi=rssi)]


def _event(kind: str, ts: float, **data) -> dict:
    return {"type": kind, "ts": ts, "severity": "info", "data": data}
