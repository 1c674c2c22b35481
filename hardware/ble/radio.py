"""The BLE "bus": a radio that hands every advertisement to the devices listening.

Two radios exist and devices cannot tell them apart: :class:`wardlink.hardware.ble.scanner.BleakRadio`
(a real adapter through bleak) and :class:`ReplayRadio` (recorded or emulated
advertisements released as the injected clock reaches their time). Both end in
:meth:`Radio.dispatch`, the one callback path.

Replay files are JSON lines, one advertisement per line::

    {"ts": 1767225600.0, "address": "A4:C1:38:8D:18:B2", "rssi": -61,
     "service_data": {"fcd2": "40 02 ca 09"}, "manufacturer_data": {"0x0499": "05 12 fc ..."},
     "gateway": "ward-3-east"}

``ts`` is seconds; a file is shifted so that its first record plays when the file is
attached. ``service_data`` keys are 16- or 128-bit UUIDs, ``manufacturer_data`` keys are
company ids (decimal or ``0x`` hex), values hex (spaces allowed). ``gateway`` is optional.
Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from wardlink.hardware.ble.advert import Advertisement
from wardlink.hardware.errors import DecodeError, HardwareError

Listener = Callable[[Advertisement], None]


class Radio:
    """Fan-out of advertisements to listeners; thread-safe."""

    def __init__(self, name: str = "ble") -> None:
        self.name = name
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.dispatched = 0
        self.listener_errors = 0

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(adv)`` for every advertisement; return the function that stops it."""
        with self._lock:
            self._listeners.append(listener)
            self._started()

        def unsubscribe() -> None:
            """Stop calling the listener."""
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def dispatch(self, adv: Advertisement) -> None:
        """Deliver one advertisement to every listener (the stack's callback ends here)."""
        with self._lock:
            listeners = list(self._listeners)
            self.dispatched += 1
        for listener in listeners:
            try:
                listener(adv)
            except HardwareError:
                # A device's own bookkeeping failure must not starve the other devices.
                self.listener_errors += 1

    def pump(self) -> None:
        """Deliver what is due now (replay); real radios deliver from their own thread."""

    def _started(self) -> None:
        """Hook: the first listener arrived (real radios start scanning here)."""

    def close(self) -> None:
        """Stop delivering; calling it again does nothing."""
        with self._lock:
            self._listeners.clear()


def record_to_advertisement(obj: dict, where: str = "record") -> Advertisement:
    """Return the Advertisement described by one replay record; raise DecodeError naming it."""
    if not isinstance(obj, dict):
        raise DecodeError(f"{where}: must be a JSON object")
    try:
        service = {u: bytes.fromhex(v) for u, v in (obj.get("service_data") or {}).items()}
        maker = {int(k, 0) if isinstance(k, str) else int(k): bytes.fromhex(v)
                 for k, v in (obj.get("manufacturer_data") or {}).items()}
        return Advertisement.build(
            obj["address"], obj["rssi"], obj["ts"], service_data=service, manufacturer_data=maker,
            name=obj.get("name"), gateway=obj.get("gateway"),
        )
    except KeyError as exc:
        raise DecodeError(f"{where}: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise DecodeError(f"{where}: {exc}") from None


def load_replay(path: str | Path) -> list[Advertisement]:
    """Read a replay file; raise DecodeError naming the file and line of the first bad record."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = f"{Path(path).name}:{number}"
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DecodeError(f"{where}: not JSON: {exc.msg}") from None
            records.append(record_to_advertisement(obj, where))
    return sorted(records, key=lambda a: a.ts)


def dump_record(adv: Advertisement) -> str:
    """Return ``adv`` as one replay line (recording a real radio uses this)."""
    obj = {
        "ts": adv.ts,
        "address": adv.address,
        "rssi": adv.rssi,
        "service_data": {u: v.hex(" ") for u, v in adv.service_data.items()},
        "manufacturer_data": {f"0x{k:04X}": v.hex(" ") for k, v in adv.manufacturer_data.items()},
    }
    if adv.gateway:
        obj["gateway"] = adv.gateway
    if adv.name:
        obj["name"] = adv.name
    return json.dumps(obj)


class ReplayRadio(Radio):
    """A radio whose advertisements come from replay files and emulated tags, on the clock.

    A *source* is anything with ``due(now) -> list[Advertisement]``: a replay file
    (:class:`ReplaySource`) or an emulated tag. :meth:`pump` asks every source and
    dispatches what is due, so time moves only when the injected clock does.
    """

    def __init__(self, clock, name: str = "replay") -> None:
        super().__init__(name)
        self.clock = clock
        self._sources: list = []
        self._pump_lock = threading.Lock()

    def add_source(self, source) -> None:
        """Attach a source of advertisements."""
        with self._pump_lock:
            self._sources.append(source)

    def play(self, records: Iterable[Advertisement], *, loop: bool = False) -> ReplaySource:
        """Attach recorded advertisements, shifted to start now; return the source."""
        source = ReplaySource(list(records), start=self.clock.now(), loop=loop)
        self.add_source(source)
        return source

    def pump(self) -> None:
        """Dispatch every advertisement due at the clock's current time, oldest first."""
        with self._pump_lock:
            now = self.clock.now()
            due = [adv for source in self._sources for adv in source.due(now)]
        for adv in sorted(due, key=lambda a: a.ts):
            self.dispatch(adv)


class ReplaySource:
    """Recorded advertisements released in order as time passes."""

    def __init__(self, records: list[Advertisement], *, start: float, loop: bool = False) -> None:
        self.records = sorted(records, key=lambda a: a.ts)
        self.loop = loop and bool(self.records)
        self._start = start
        self._index = 0
        first = self.records[0].ts if self.records else 0.0
        self._span = (self.records[-1].ts - first + 1.0) if self.records else 0.0
        self._shift = start - first

    def due(self, now: float) -> list[Advertisement]:
        """Return the records whose (shifted) time has come since the last call."""
        out = []
        while self.records:
            if self._index == len(self.records):
                if not self.loop:
                    break
                self._index, self._shift = 0, self._shift + self._span
            adv = self.records[self._index]
            ts = adv.ts + self._shift
            if ts > now:
                break
            out.append(Advertisement(adv.address, adv.rssi, ts, adv.service_data,
                                     adv.manufacturer_data, adv.name, adv.gateway))
            self._index += 1
        return out


def open_emulated(backend, adapter: str) -> ReplayRadio:
    """Return the replay radio standing in for ``adapter``."""
    return ReplayRadio(backend.clock, name=adapter)
