"""Emulators the registry installs for serial drivers on the emulated backend.

Each one serves a pty for the configured port name; the driver opens the pty's slave
side through the backend exactly as it would open ``/dev/ttyUSB0``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from wardlink.hardware import signals
from wardlink.hardware.errors import ConfigError
from wardlink.hardware.serial import ports
from wardlink.hardware.serial.modbus_emulator import ModbusSlaveEmulator
from wardlink.hardware.serial.profiles import build_profile
from wardlink.hardware.serial.ptys import PtyEmulator
from wardlink.hardware.serial.registers import TYPES, Point, encode
from wardlink.hardware.serial.sterilizer_emulator import SterilizerEmulator

#: The emulated steriliser starts a cycle at once and then every half hour.
STERILIZER_PERIOD_S = 1800.0


def _signal_table(spec: Mapping | None, allowed: set[str], owner: str, *, seed: int, clock) -> dict:
    if not spec:
        return {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"emulate: must be a mapping of quantity to signal, got {spec!r}")
    table = {}
    for name, signal_spec in spec.items():
        if name not in allowed:
            raise ConfigError(f"emulate.{name}: not a quantity of {owner}; allowed: {', '.join(sorted(allowed))}")
        table[name] = signals.build(signal_spec, name=name, seed=seed, origin=clock.now())
    return table


def install_sterilizer(backend, params: dict) -> SterilizerEmulator:
    """Install an emulated steriliser on ``params['port']`` of the emulated backend."""
    return ports.install(
        backend, params["port"], lambda: SterilizerEmulator(backend.clock, period_s=STERILIZER_PERIOD_S)
    )


class LinePrinterEmulator(PtyEmulator):
    """An instrument printing ``key=value`` or CSV lines every ``interval_s`` of clock time."""

    def __init__(self, clock, profile, *, interval_s: float = 10.0) -> None:
        super().__init__()
        self.clock = clock
        self.profile = profile
        self.interval_s = interval_s
        self.values = {q: 0.0 for q in profile.quantities}
        self._signals: dict = {}
        self._next = clock.monotonic()
        self._header_sent = False

    def attach_signals(self, spec: Mapping | None, *, seed: int) -> None:
        """Drive the printed quantities from signal specs ({quantity: spec})."""
        self._signals = _signal_table(spec, set(self.values), "this instrument", seed=seed, clock=self.clock)

    def line(self) -> str:
        """Return the next line the instrument prints."""
        now = self.clock.now()
        fields = self.profile.fields
        raw = {}
        for name, field in fields.items():
            signal = self._signals.get(field.quantity)
            value = signal(now) if signal is not None else self.values[field.quantity]
            raw[name] = f"{(value - field.offset) / field.scale:.3f}"
        if self.profile.name == "keyvalue":
            return " ".join(f"{k}={v}" for k, v in raw.items())
        columns = self.profile.columns or list(fields)
        return self.profile.delimiter.join(raw.get(c, "0") for c in columns)

    def on_idle(self) -> None:
        """Print the next line when its time has come."""
        if self.clock.monotonic() < self._next:
            return
        self._next += self.interval_s
        if self.profile.name == "csv" and self.profile.expect_header and not self._header_sent:
            self.send(self.profile.delimiter.join(self.profile.fields).encode() + b"\r\n")
            self._header_sent = True
        self.send(self.line().encode("ascii") + b"\r\n")


def install_lines(backend, params: dict) -> LinePrinterEmulator:
    """Install an emulated line-printing instrument for a ``serial_lines`` device."""
    profile = build_profile(params["profile"], params["profile_options"])
    return ports.install(backend, params["port"], lambda: LinePrinterEmulator(backend.clock, profile))


class ModbusUnitEmulator:
    """One emulated unit on a shared emulated RS-485 line, seen through its register points."""

    def __init__(self, line: ModbusSlaveEmulator, unit: int, points: tuple[Point, ...], clock) -> None:
        self.line = line
        self.unit = unit
        self.points = {p.quantity: p for p in points}
        self.clock = clock
        self.values = {q: 0.0 for q in self.points}
        self._signals: dict = {}
        tables: dict[str, dict[int, int]] = {"holding": {}, "input": {}}
        for point in points:
            for i in range(point.size):
                tables[point.kind][point.address + i] = 0
        line.add_unit(unit, holding=tables["holding"], input=tables["input"])
        line.refresh[unit] = self._refresh

    def attach_signals(self, spec: Mapping | None, *, seed: int) -> None:
        """Drive point quantities from signal specs ({quantity: spec})."""
        self._signals = _signal_table(spec, set(self.points), f"unit {self.unit}", seed=seed, clock=self.clock)

    def set(self, quantity: str, value: float) -> None:
        """Give ``quantity`` a fixed value (replacing any signal)."""
        self._signals.pop(quantity, None)
        self.values[quantity] = float(value)

    def inject(self, fault: str, *, count: int = 1, code: int = 0x04) -> None:
        """Fault the next responses on the line (see :class:`ModbusSlaveEmulator`)."""
        self.line.inject(fault, count=count, code=code)

    def _refresh(self) -> None:
        now = self.clock.now()
        for quantity, point in self.points.items():
            value = self._signals[quantity](now) if quantity in self._signals else self.values[quantity]
            raw = (value - point.offset) / point.scale
            if point.type != "float32":
                raw = _clamp_int(raw, point.type)
            words = encode(raw, point.type, point.word_order)
            self.line.set_registers(point.kind, dict(enumerate(words, point.address)), unit=self.unit)


def _clamp_int(raw: float, type_: str) -> int:
    bits = 16 * TYPES[type_][0]
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if type_.startswith("int") else (0, (1 << bits) - 1)
    return int(max(low, min(high, math.floor(raw + 0.5))))


def install_modbus(backend, params: dict) -> ModbusUnitEmulator:
    """Install an emulated Modbus unit (sharing the port's emulated line with other units)."""
    line = ports.install(backend, params["port"], lambda: ModbusSlaveEmulator(None, baudrate=params["baudrate"]))
    if not isinstance(line, ModbusSlaveEmulator):
        raise ConfigError(f"port: {params['port']} is already emulated as another kind of device")
    if params["unit"] in line.units:
        raise ConfigError(f"unit: {params['unit']} is already on emulated port {params['port']}")
    return ModbusUnitEmulator(line, params["unit"], params["points"], backend.clock)
