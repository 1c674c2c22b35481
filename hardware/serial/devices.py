"""Registry-facing serial devices: line-printing instruments and Modbus RTU slaves.

:class:`LineDevice` reads its port in a thread (a printer port talks whenever it likes
and a tty buffer is only 4 KiB), cuts lines with :class:`Framing`, feeds them to the
profile and keeps the freshest value of each quantity plus a queue of finished events.
``read()`` returns the quantities heard within ``stale_after_s``; ``poll_events()``
drains the events. :class:`ModbusDevice` polls its register blocks on ``read()``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping

from wardlink.hardware.device import Device
from wardlink.hardware.errors import BusError, ConfigError
from wardlink.hardware.serial.framing import Framing, LineFramer, LineRejected, Rejects
from wardlink.hardware.serial.modbus import FUNCTIONS, ModbusRtuMaster
from wardlink.hardware.serial.ports import SerialLine, SerialSettings
from wardlink.hardware.serial.profiles import build_profile
from wardlink.hardware.serial.registers import Point, plan_blocks

MAX_QUEUED_EVENTS = 1000


class LineDevice(Device):
    """An instrument that prints text lines on a serial port."""

    def __init__(self, label: str, line: SerialLine, profile, framing: Framing | None, *, clock,
                 stale_after_s: float = 300.0, keep_rejected: int = 20, driver: str = "serial_lines") -> None:
        super().__init__(label)
        line.claim(label, exclusive=True)
        self.line = line
        self.profile = profile
        self.driver = driver
        self.quantities = dict(profile.quantities)
        self.clock = clock
        self.stale_after_s = stale_after_s
        self.rejects = Rejects(keep=keep_rejected)
        self.framer = LineFramer(framing or Framing(), self.rejects)
        self.lines_read = 0
        self.events_dropped = 0
        self.error: BaseException | None = None
        self._latest: dict[str, tuple[float, float]] = {}
        self._events: deque[dict] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=label, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        port = self.line.port
        try:
            while not self._stop.is_set():
                data = port.read(max(1, min(port.in_waiting, 4096)))
                if data:
                    self.feed(data)
        except Exception as exc:  # the port vanished (USB adapter unplugged): surfaced by read()
            if not self._stop.is_set():
                self.error = exc

    def feed(self, data: bytes) -> None:
        """Process bytes as if they came from the port (the reader thread calls this)."""
        for text in self.framer.feed(data):
            if not text.strip():
                continue
            self.lines_read += 1
            try:
                values, events = self.profile.feed(text)
            except LineRejected as exc:
                self.rejects.add(str(exc), text)
                continue
            self._store(values, events)

    def _store(self, values: dict[str, float], events: list[dict]) -> None:
        now = self.clock.now()
        with self._lock:
            for quantity, value in values.items():
                self._latest[quantity] = (now, value)
            for event in events:
                if len(self._events) >= MAX_QUEUED_EVENTS:
                    self._events.popleft()
                    self.events_dropped += 1
                self._events.append({"ts": now, **event})

    def _read(self) -> dict[str, float]:
        self._check_port()
        horizon = self.clock.now() - self.stale_after_s
        with self._lock:
            return {q: v for q, (ts, v) in self._latest.items() if ts >= horizon}

    def poll_events(self) -> list[dict]:
        """Return and forget the events finished since the last call (oldest first)."""
        self._check_open()
        self._check_port()
        with self._lock:
            events, self._events = list(self._events), deque()
        return events

    def stats(self) -> dict:
        """Return counters for the gateway's health report."""
        return {
            "lines": self.lines_read,
            "rejected": self.rejects.count,
            "recent_rejects": self.rejects.snapshot(),
            "events_dropped": self.events_dropped,
        }

    def _check_port(self) -> None:
        if self.error is not None:
            raise BusError(f"{self.label}: serial port failed: {self.error}") from self.error

    def _close(self) -> None:
        self._stop.set()
        cancel = getattr(self.line.port, "cancel_read", None)
        if cancel is not None:
            cancel()
        self._thread.join(timeout=5)
        self.line.release(self.label)


class ModbusDevice(Device):
    """One Modbus RTU slave (unit) whose register points are read on every ``read()``."""

    driver = "modbus_rtu"

    def __init__(self, label: str, line: SerialLine, unit: int, points: tuple[Point, ...], *,
                 timeout: float = 1.0, retries: int = 1) -> None:
        super().__init__(label)
        line.claim(label, exclusive=False)
        with line.lock:
            if line.modbus is None:
                line.modbus = ModbusRtuMaster(line.port, timeout=timeout, retries=retries)
        self.line = line
        self.unit = unit
        self.points = points
        self.blocks = plan_blocks(points)
        self.timeout, self.retries = timeout, retries
        self.quantities = {p.quantity: p.unit for p in points}
        self.non_finite = 0

    @property
    def master(self) -> ModbusRtuMaster:
        """Return the line's Modbus master (shared by every unit on the port)."""
        return self.line.modbus

    def _read(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for block in self.blocks:
            with self.line.lock:  # one transaction at a time on a multi-drop line
                registers = self.master.read_registers(
                    self.unit, FUNCTIONS[block.kind], block.address, block.count,
                    timeout=self.timeout, retries=self.retries,
                )
            for point in block.points:
                start = point.address - block.address
                value = point.decode(registers[start : start + point.size])
                if value != value or value in (float("inf"), float("-inf")):
                    self.non_finite += 1  # meters send NaN for "no value"; skip, keep the rest
                    continue
                values[point.quantity] = value
        return values

    def _close(self) -> None:
        self.line.release(self.label)


# --------------------------------------------------------------------------- registry glue


def _line(params: dict, backend) -> SerialLine:
    return backend.bus("serial", SerialSettings.from_params(params))


def open_sterilizer(params: dict, backend) -> LineDevice:
    """Open a steriliser's printer port (driver ``sterilizer_printer``)."""
    return LineDevice(
        f"sterilizer_printer {params['port']}", _line(params, backend), build_profile("sterilizer", None),
        params["framing"], clock=backend.clock, stale_after_s=params["stale_after_s"],
        keep_rejected=params["keep_rejected"], driver="sterilizer_printer",
    )


def open_lines(params: dict, backend) -> LineDevice:
    """Open a line-printing instrument (driver ``serial_lines``)."""
    return LineDevice(
        f"serial_lines {params['port']}", _line(params, backend),
        build_profile(params["profile"], params["profile_options"]),
        params["framing"], clock=backend.clock, stale_after_s=params["stale_after_s"],
        keep_rejected=params["keep_rejected"],
    )


def open_modbus(params: dict, backend) -> ModbusDevice:
    """Open one Modbus RTU unit (driver ``modbus_rtu``)."""
    return ModbusDevice(
        f"modbus_rtu {params['port']} unit {params['unit']}", _line(params, backend), params["unit"],
        params["points"], timeout=params["timeout_s"], retries=params["retries"],
    )


def check_lines(params: dict) -> None:
    """Build the profile once so ``profile_options`` errors surface at start-up."""
    build_profile(params["profile"], params["profile_options"])


# Parsers are idempotent: the gateway validates its configuration once and passes the
# validated parameters to open_device, which validates them again.


def parse_framing(value, key: str) -> Framing:
    """Validate the ``framing`` parameter."""
    return value if isinstance(value, Framing) else Framing.from_config(value, key)


def parse_points(value, key: str) -> tuple[Point, ...]:
    """Validate the ``points`` parameter."""
    from wardlink.hardware.serial.registers import parse_points as parse

    if isinstance(value, tuple) and value and all(isinstance(p, Point) for p in value):
        return value
    return parse(value, key)


def parse_options(value, key: str) -> dict:
    """Accept a mapping for ``profile_options`` (checked with the profile in ``check_lines``)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be a mapping, got {value!r}")
    return dict(value)



def lines_quantities(params: dict) -> dict[str, str]:
    """Return quantity -> unit of a ``serial_lines`` device with validated ``params``."""
    return dict(build_profile(params["profile"], params["profile_options"]).quantities)


def modbus_quantities(params: dict) -> dict[str, str]:
    """Return quantity -> unit of a ``modbus_rtu`` device with validated ``params``."""
    return {point.quantity: point.unit for point in params["points"]}
