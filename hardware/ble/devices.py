"""Registry-facing BLE devices: BTHome sensors, RuuviTags and tag presence.

Advertisements arrive through the radio (the BLE "bus") whenever the tag sends them;
each device keeps the newest accepted values and a queue of discrete events.
``read()`` returns the values (plus ``rssi``) and raises SensorTimeoutError when the tag
has not been heard for ``stale_after_s``; ``poll_events()`` drains the events. Both first
let the radio deliver what is due (the replay radio moves with the injected clock).
Anything unusable (undecodable, wrong key, duplicate, replayed) is counted in
:meth:`BleDevice.stats`, never raised to the caller.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping

from wardlink.hardware.ble import bthome, ibeacon, ruuvi
from wardlink.hardware.ble.advert import Advertisement, normalize_mac
from wardlink.hardware.ble.dedup import NEW, RESET, SequenceGuard
from wardlink.hardware.ble.presence import PresenceConfig, PresenceTracker
from wardlink.hardware.device import Device
from wardlink.hardware.errors import ConfigError, DecodeError, HardwareError, SensorTimeoutError

MAX_QUEUED_EVENTS = 1000


class BleDevice(Device):
    """Base: listens on the radio, keeps the latest values and an event queue."""

    def __init__(self, label: str, radio, clock, *, stale_after_s: float = 600.0) -> None:
        super().__init__(label)
        self.radio = radio
        self.clock = clock
        self.stale_after_s = stale_after_s
        self.counts = {"heard": 0, "accepted": 0, "rejected": 0, "duplicates": 0, "replays": 0, "resets": 0}
        self.last_error: str | None = None
        self.events_dropped = 0
        self._values: dict[str, float] = {}
        self._heard_at: float | None = None
        self._events: deque[dict] = deque()
        self._lock = threading.RLock()
        self._unsubscribe = radio.subscribe(self._listen)

    def _listen(self, adv: Advertisement) -> None:
        if not self._matches(adv):
            return
        with self._lock:
            self.counts["heard"] += 1
            try:
                self._accept(adv)
            except HardwareError as exc:
                self.counts["rejected"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"

    def _matches(self, adv: Advertisement) -> bool:
        raise NotImplementedError

    def _accept(self, adv: Advertisement) -> None:
        raise NotImplementedError

    def _guarded(self, guard: SequenceGuard, adv: Advertisement, **ids) -> bool:
        verdict = guard.check(adv.ts, **ids)
        if verdict == RESET:
            self.counts["resets"] += 1
        elif verdict != NEW:
            self.counts["duplicates" if verdict == "duplicate" else "replays"] += 1
        return verdict in (NEW, RESET)

    def _update(self, adv: Advertisement, values: dict[str, float]) -> None:
        self.counts["accepted"] += 1
        self._values.update(values)
        self._values["rssi"] = float(adv.rssi)
        self._heard_at = adv.ts

    def _emit(self, event: dict) -> None:
        if len(self._events) >= MAX_QUEUED_EVENTS:
            self._events.popleft()
            self.events_dropped += 1
        self._events.append(event)

    def _pump(self) -> None:
        self.radio.pump()
        check = getattr(self.radio, "check", None)
        if check is not None:
            check()

    def _read(self) -> dict[str, float]:
        self._pump()
        with self._lock:
            now = self.clock.now()
            if self._heard_at is None or now - self._heard_at > self.stale_after_s:
                since = "never" if self._heard_at is None else f"not for {now - self._heard_at:.0f} s"
                raise SensorTimeoutError(f"{self.label}: heard {since} (stale after {self.stale_after_s:g} s)")
            return dict(self._values)

    def poll_events(self) -> list[dict]:
        """Return and forget the events since the last call (oldest first)."""
        self._check_open()
        self._pump()
        with self._lock:
            events, self._events = list(self._events), deque()
        return events

    def stats(self) -> dict:
        """Return counters for the gateway's health report."""
        with self._lock:
            return {**self.counts, "events_dropped": self.events_dropped, "last_error": self.last_error}

    def _close(self) -> None:
        self._unsubscribe()


class BTHomeDevice(BleDevice):
    """A BTHome v2 sensor, optionally encrypted with a bind key."""

    driver = "bthome"

    def __init__(self, address: str, radio, clock, *, key: bytes | None = None, stale_after_s: float = 600.0,
                 counter_policy: str = "gap", reset_gap_s: float = 30.0) -> None:
        self.address = normalize_mac(address)
        self.key = key
        self.guard = SequenceGuard(counter_policy, reset_gap_s)
        self._units: dict[str, str] = {}
        super().__init__(f"bthome {self.address}", radio, clock, stale_after_s=stale_after_s)

    @property
    def quantities(self) -> dict[str, str]:
        """Return quantity -> unit for what this sensor has reported so far, plus rssi."""
        with self._lock:
            return {**self._units, "rssi": "dBm"}

    def _matches(self, adv: Advertisement) -> bool:
        return bthome.UUID in adv.service_data and (
            adv.address == self.address or _carries_mac(adv.service_data[bthome.UUID], self.address)
        )

    def _accept(self, adv: Advertisement) -> None:
        packet = bthome.decode(adv.service_data[bthome.UUID], mac=self.address, key=self.key)
        if not self._guarded(self.guard, adv, packet_id=packet.packet_id, counter=packet.counter):
            return
        self._units.update(packet.units)
        self._update(adv, dict(packet.values))
        for event in packet.events:
            data = {"address": self.address, **{k: v for k, v in event.items() if k != "type"}}
            self._emit({"type": f"ble.{event['type']}", "ts": adv.ts, "severity": "info", "data": data})


def _carries_mac(data: bytes, address: str) -> bool:
    """Tell whether BTHome service data carries ``address`` in its payload (random-address devices)."""
    if len(data) < 7 or not data[0] & 0x02:
        return False
    return ":".join(f"{b:02X}" for b in reversed(data[1:7])) == address


class RuuviDevice(BleDevice):
    """A RuuviTag sending data format 5."""

    driver = "ruuvitag"
    quantities = {**ruuvi.UNITS, "rssi": "dBm"}

    def __init__(self, address: str, radio, clock, *, stale_after_s: float = 600.0) -> None:
        self.address = normalize_mac(address)
        self.guard = SequenceGuard("gap", 0.0)
        super().__init__(f"ruuvitag {self.address}", radio, clock, stale_after_s=stale_after_s)

    def _matches(self, adv: Advertisement) -> bool:
        return adv.address == self.address and ruuvi.COMPANY_ID in adv.manufacturer_data

    def _accept(self, adv: Advertisement) -> None:
        decoded = ruuvi.decode(adv.manufacturer_data[ruuvi.COMPANY_ID])
        values = decoded["values"]
        if self._guarded(self.guard, adv, packet_id=values.get("sequence")):
            self._update(adv, values)


class PresenceDevice(BleDevice):
    """Where configured tags are, from their RSSI at each gateway (see :mod:`presence`)."""

    driver = "ble_presence"

    def __init__(self, tags: tuple[dict, ...], radio, clock, *, config: PresenceConfig) -> None:
        self.tags = tags
        self.tracker = PresenceTracker(config)
        self._by_address = {t["address"]: t["id"] for t in tags if "address" in t}
        self._by_beacon = {(t["uuid"], t["major"], t["minor"]): t["id"] for t in tags if "uuid" in t}
        self.quantities = {}
        for tag in tags:
            self.quantities[f"{tag['id']}.present"] = "bool"
            self.quantities[f"{tag['id']}.rssi"] = "dBm"
        super().__init__("ble_presence", radio, clock, stale_after_s=float("inf"))

    def _tag(self, adv: Advertisement) -> str | None:
        tag = self._by_address.get(adv.address)
        if tag is None and self._by_beacon and ibeacon.COMPANY_ID in adv.manufacturer_data:
            try:
                beacon = ibeacon.decode(adv.manufacturer_data[ibeacon.COMPANY_ID])
            except DecodeError:
                return None
            tag = self._by_beacon.get((beacon["uuid"], beacon["major"], beacon["minor"]))
        return tag

    def _matches(self, adv: Advertisement) -> bool:
        return self._tag(adv) is not None

    def _accept(self, adv: Advertisement) -> None:
        gateway = adv.gateway or self.radio.name
        for event in self.tracker.observe(self._tag(adv), gateway, adv.rssi, adv.ts):
            self._emit(event)
        self.counts["accepted"] += 1

    def _tick(self) -> None:
        self._pump()
        with self._lock:
            for event in self.tracker.tick(self.clock.now()):
                self._emit(event)

    def _read(self) -> dict[str, float]:
        self._tick()
        values: dict[str, float] = {}
        with self._lock:
            for tag in self.tags:
                where = self.tracker.location.get(tag["id"])
                values[f"{tag['id']}.present"] = 0.0 if where is None else 1.0
                rssi = self.tracker.smoothed(tag["id"], where) if where is not None else None
                if rssi is not None:
                    values[f"{tag['id']}.rssi"] = round(rssi, 1)
        return values

    def poll_events(self) -> list[dict]:
        """Return and forget seen/lost/changed events (after applying timeouts at the clock's now)."""
        self._check_open()
        self._tick()
        with self._lock:
            events, self._events = list(self._events), deque()
        return events


# --------------------------------------------------------------------------- registry glue


def parse_bind_key(value, key: str) -> bytes | None:
    """Validate a 32-hex-digit BTHome bind key (idempotent: 16 bytes pass as they are)."""
    if value is None or (isinstance(value, bytes) and len(value) == 16):
        return value
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise ConfigError(f"{key}: must be 32 hexadecimal digits (a 16-byte bind key)")
    return raw


def parse_tags(value, key: str) -> tuple[dict, ...]:
    """Validate presence tags: ``[{"id": ..., "address": ...} | {"id", "uuid", "major", "minor"}]``."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{key}: must be a non-empty list of tags")
    tags, ids = [], set()
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str) or not item["id"]:
            raise ConfigError(f"{where}.id: required, a non-empty string")
        if item["id"] in ids:
            raise ConfigError(f"{where}.id: {item['id']!r} is used twice")
        ids.add(item["id"])
        if "address" in item:
            try:
                tags.append({"id": item["id"], "address": normalize_mac(item["address"])})
            except DecodeError:
                raise ConfigError(f"{where}.address: must be a MAC address like AA:BB:CC:DD:EE:FF") from None
        elif {"uuid", "major", "minor"} <= set(item):
            tags.append(_beacon_tag(item, where))
        else:
            raise ConfigError(f"{where}: give either address or uuid + major + minor")
    return tuple(tags)


def _beacon_tag(item: dict, where: str) -> dict:
    import uuid

    try:
        beacon_uuid = str(uuid.UUID(str(item["uuid"])))
    except ValueError:
        raise ConfigError(f"{where}.uuid: not a UUID: {item['uuid']!r}") from None
    for field in ("major", "minor"):
        value = item[field]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise ConfigError(f"{where}.{field}: must be an integer 0..65535, got {value!r}")
    return {"id": item["id"], "uuid": beacon_uuid, "major": item["major"], "minor": item["minor"]}


def check_presence(params: dict) -> None:
    """Validate the presence thresholds together."""
    _presence_config(params)


def _presence_config(params: dict) -> PresenceConfig:
    return PresenceConfig(
        enter_dbm=params["enter_dbm"], margin_db=params["margin_db"], dwell_s=params["dwell_s"],
        away_timeout_s=params["away_timeout_s"], smoothing=params["smoothing"],
        alpha=params["alpha"], window=params["window"],
    )


def open_bthome(params: dict, backend) -> BTHomeDevice:
    """Open a BTHome sensor on the backend's BLE radio."""
    return BTHomeDevice(
        params["address"], backend.bus("ble", params["adapter"]), backend.clock, key=params["bind_key"],
        stale_after_s=params["stale_after_s"], counter_policy=params["counter_policy"],
        reset_gap_s=params["reset_gap_s"],
    )


def open_ruuvi(params: dict, backend) -> RuuviDevice:
    """Open a RuuviTag on the backend's BLE radio."""
    return RuuviDevice(params["address"], backend.bus("ble", params["adapter"]), backend.clock,
                       stale_after_s=params["stale_after_s"])


def open_presence(params: dict, backend) -> PresenceDevice:
    """Open presence tracking of the configured tags on the backend's BLE radio."""
    return PresenceDevice(params["tags"], backend.bus("ble", params["adapter"]), backend.clock,
                          config=_presence_config(params))


def bthome_quantities(params: dict) -> dict[str, str]:
    """Return every quantity a BTHome sensor can report (it depends on the sensor model)."""
    found = {obj.name: obj.unit for obj in bthome.OBJECTS.values() if obj.kind in ("sensor", "binary")}
    return {**found, "rssi": "dBm"}


def presence_quantities(params: dict) -> dict[str, str]:
    """Return ``<tag>.present`` and ``<tag>.rssi`` for each configured tag."""
    out = {}
    for tag in params["tags"]:
        out[f"{tag['id']}.present"] = "bool"
        out[f"{tag['id']}.rssi"] = "dBm"
    return out
