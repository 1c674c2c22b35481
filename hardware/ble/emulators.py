"""Emulated BLE tags and the radios the backend hands out.

The emulated backend's radio is a :class:`ReplayRadio`: emulated tags are sources on
it that produce, at their advertising interval on the injected clock, the same bytes a
real tag would (BTHome objects, encrypted when a bind key is configured; RuuviTag
format 5), and replay files are sources too. Nothing else differs from a real adapter.
"""

from __future__ import annotations

import random
import struct
from collections import deque
from collections.abc import Mapping

from wardlink.hardware.ble import bthome, ruuvi
from wardlink.hardware.ble.advert import Advertisement
from wardlink.hardware.ble.radio import ReplayRadio, load_replay
from wardlink.hardware.emulation import ChipEmulator, Physical
from wardlink.hardware.errors import ConfigError


class TagEmulator(ChipEmulator):
    """Base for emulated tags: advertise every ``interval_s`` seconds of clock time."""

    FAULTS = frozenset({"silent"})

    def __init__(self, clock, address: str, *, interval_s: float = 10.0, rssi: int = -62,
                 gateway: str | None = None) -> None:
        super().__init__(clock)
        self.address = address
        self.interval_s = interval_s
        self.rssi = rssi
        self.gateway = gateway
        self._next = clock.now()
        self.sent = 0

    def due(self, now: float) -> list[Advertisement]:
        """Return the advertisements sent since the last call (at most a minute's worth)."""
        out = []
        self._next = max(self._next, now - 60.0)  # after a long clock jump, do not flood
        while self._next <= now:
            ts, self._next = self._next, self._next + self.interval_s
            if self.take_fault("silent"):
                continue
            out.append(self.advertisement(ts))
            self.sent += 1
        return out

    def advertisement(self, ts: float) -> Advertisement:
        """Return the advertisement sent at ``ts``."""
        raise NotImplementedError


class BTHomeTagEmulator(TagEmulator):
    """A BTHome v2 thermometer/hygrometer (Shelly BLU H&T-like), encrypted with a bind key.

    Faults: ``silent`` (skip advertisements), ``bad_mic`` (corrupt the integrity tag),
    ``replay`` (an attacker resends an older recorded packet instead), ``reboot``
    (the counter starts again from 1).
    """

    FAULTS = frozenset({"silent", "bad_mic", "replay", "reboot"})
    temperature = Physical(4.5, "degC")
    humidity = Physical(45.0, "%RH")
    battery = Physical(90.0, "%")

    def __init__(self, clock, address: str, *, key: bytes | None = None, **kwargs) -> None:
        super().__init__(clock, address, **kwargs)
        self.key = key
        self.counter = 1
        self.packet_id = 0
        self._history: deque[bytes] = deque(maxlen=3)

    def payload(self) -> bytes:
        """Return the plain BTHome objects for the current physical values."""
        self.packet_id = (self.packet_id + 1) % 256
        return struct.pack(
            "<BBBBBhBH", 0x00, self.packet_id, 0x01, round(max(0, min(100, self.battery))),
            0x02, round(self.temperature * 100), 0x03, round(max(0, min(100, self.humidity)) * 100),
        )

    def advertisement(self, ts: float) -> Advertisement:
        """Return the advertisement the tag sends at ``ts``."""
        if self._history and self.take_fault("replay"):
            data = self._history[0]
        else:
            if self.take_fault("reboot"):
                self.counter = 1
            plain = self.payload()
            if self.key is None:
                data = b"\x40" + plain
            else:
                data = bthome.encrypt(plain, mac=self.address, key=self.key, counter=self.counter)
                self.counter += 1
            self._history.append(data)
        if self.take_fault("bad_mic") and self.key is not None:
            data = data[:-1] + bytes([data[-1] ^ 0x5A])
        return Advertisement.build(self.address, self.rssi, ts, service_data={"fcd2": data}, gateway=self.gateway)


class RuuviTagEmulator(TagEmulator):
    """A RuuviTag broadcasting data format 5."""

    temperature = Physical(21.0, "degC")
    humidity = Physical(40.0, "%RH")
    pressure = Physical(101325.0, "Pa")

    def __init__(self, clock, address: str, **kwargs) -> None:
        super().__init__(clock, address, **kwargs)
        self.sequence = 0

    def advertisement(self, ts: float) -> Advertisement:
        """Return the advertisement the tag sends at ``ts``."""
        self.sequence = (self.sequence + 1) % 0xFFFF
        power = (3000 - 1600) << 5 | (4 + 40) // 2
        body = struct.pack(
            ">BhHHhhhHBH", ruuvi.FORMAT, round(self.temperature / 0.005), round(self.humidity / 0.0025),
            round(self.pressure - 50000), 0, 0, 1000, power, 0, self.sequence,
        ) + bytes.fromhex(self.address.replace(":", ""))
        return Advertisement.build(self.address, self.rssi, ts, manufacturer_data={ruuvi.COMPANY_ID: body},
                                   gateway=self.gateway)


class PresenceEmulator:
    """Tags that come and go, or a replay file, on the emulated radio.

    ``emulate`` may give ``{"replay": "recorded.jsonl", "loop": true}``; without it each
    configured address tag is near for ten minutes and away for five, with RSSI noise.
    """

    ALLOWED = ("replay", "loop")

    def __init__(self, radio: ReplayRadio, tags: tuple[dict, ...], clock) -> None:
        self.radio = radio
        self.tags = tags
        self.clock = clock
        self._walkers: list[_Walker] = []

    def attach_signals(self, spec: Mapping | None, *, seed: int) -> None:
        """Replay a file if ``spec`` names one, otherwise start the synthetic walk."""
        spec = dict(spec or {})
        unknown = set(spec) - set(self.ALLOWED)
        if unknown:
            raise ConfigError(f"emulate.{sorted(unknown)[0]}: unknown; allowed: {', '.join(self.ALLOWED)}")
        if "replay" in spec:
            self.radio.play(load_replay(spec["replay"]), loop=bool(spec.get("loop", False)))
            return
        for n, tag in enumerate(t for t in self.tags if "address" in t):
            walker = _Walker(tag["address"], self.clock, seed=seed + n, offset_s=97.0 * n, gateway=self.radio.name)
            self._walkers.append(walker)
            self.radio.add_source(walker)


class _Walker:
    """One tag near the gateway for 600 s, then away for 300 s, advertising every 2 s."""

    def __init__(self, address: str, clock, *, seed: int, offset_s: float, gateway: str) -> None:
        self.address = address
        self.gateway = gateway
        self._rng = random.Random(seed)
        self._origin = clock.now() - offset_s
        self._next = clock.now()

    def due(self, now: float) -> list[Advertisement]:
        """Return the advertisements sent since the last call."""
        out = []
        self._next = max(self._next, now - 60.0)
        while self._next <= now:
            ts, self._next = self._next, self._next + 2.0
            if (ts - self._origin) % 900.0 < 600.0:
                rssi = round(-60 + self._rng.gauss(0, 3))
                out.append(Advertisement.build(self.address, rssi, ts, gateway=self.gateway))
        return out


def install_bthome(backend, params: dict) -> BTHomeTagEmulator:
    """Put an emulated BTHome sensor on the backend's emulated radio."""
    tag = BTHomeTagEmulator(backend.clock, params["address"], key=params["bind_key"])
    backend.bus("ble", params["adapter"]).add_source(tag)
    return tag


def install_ruuvi(backend, params: dict) -> RuuviTagEmulator:
    """Put an emulated RuuviTag on the backend's emulated radio."""
    tag = RuuviTagEmulator(backend.clock, params["address"])
    backend.bus("ble", params["adapter"]).add_source(tag)
    return tag


def install_presence(backend, params: dict) -> PresenceEmulator:
    """Prepare moving tags (or a replay file, via ``emulate``) on the emulated radio."""
    return PresenceEmulator(backend.bus("ble", params["adapter"]), params["tags"], backend.clock)
