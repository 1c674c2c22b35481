"""Backends: where drivers get their buses from, real or emulated.

The choice is made once, at the edge of the program (gateway configuration), and
drivers never know which one they got. Buses are opened lazily through the
``REAL_BUSES`` / ``EMULATED_BUSES`` tables (kind -> ``"module:function"``), so a
gateway without Bluetooth never imports a Bluetooth stack. Other bus kinds add rows.
"""

from __future__ import annotations

import errno
import importlib
import shutil
import tempfile
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

from wardlink.hardware.errors import BusError, ConfigError, NotEmulatedError

#: Default location of the w1 sysfs tree on Linux.
W1_SYSFS = "/sys/bus/w1/devices"

# kind -> "module:function(backend, key)" returning the bus, or (bus, close_function).
REAL_BUSES: dict[str, str] = {
    "i2c": "wardlink.hardware.backend:_real_i2c",
    "w1": "wardlink.hardware.onewire.sysfs:open_real",
    "gpio": "wardlink.hardware.gpio.pins:open_real",
    "serial": "wardlink.hardware.serial.ports:open_real",
    "ble": "wardlink.hardware.ble.scanner:open_real",
}
EMULATED_BUSES: dict[str, str] = {
    "i2c": "wardlink.hardware.backend:_emulated_i2c",
    "w1": "wardlink.hardware.onewire.sysfs:open_emulated",
    "gpio": "wardlink.hardware.gpio.pins:open_emulated",
    "serial": "wardlink.hardware.serial.ports:open_emulated",
    "ble": "wardlink.hardware.ble.radio:open_emulated",
}


def load(path: str):
    """Import and return ``"package.module:attribute"``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _real_i2c(backend: Backend, number: int):
    from smbus2 import SMBus

    try:
        return SMBus(number)
    except OSError as exc:
        hint = {
            errno.ENOENT: "I2C is not enabled (raspi-config nonint do_i2c 0) or there is no such adapter",
            errno.EACCES: "permission denied: add the gateway user to the i2c group",
        }.get(exc.errno, exc.strerror)
        raise BusError(exc.errno, f"/dev/i2c-{number}: {hint}") from exc


def _emulated_i2c(backend: Backend, number: int):
    from wardlink.hardware.i2c.bus import EmulatedI2CBus

    return EmulatedI2CBus(number)


class Backend:
    """Hands out buses by kind and key, caches them, and closes them all on :meth:`close`."""

    is_emulated = False
    _openers: Mapping[str, str] = REAL_BUSES

    def __init__(self, *, clock=None, sleep: Callable[[float], None] | None = None) -> None:
        if clock is None:
            from wardlink.clock import SystemClock

            clock = SystemClock()
        self.clock = clock
        #: The time chip emulators and conversion waits run on (see BusClock).
        self.bus_clock = clock
        self.sleep = sleep or time.sleep
        self._buses: dict[tuple[str, object], tuple[object, Callable[[], None] | None]] = {}
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def real(cls, *, clock=None, w1_root: str | Path = W1_SYSFS) -> RealBackend:
        """Return a backend on the real buses of this machine."""
        return RealBackend(clock=clock, w1_root=w1_root)

    @classmethod
    def emulated(
        cls,
        *,
        clock=None,
        seed: int = 0,
        root: str | Path | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> EmulatedBackend:
        """Return a backend of emulated buses and chips driven by ``clock``."""
        return EmulatedBackend(clock=clock, seed=seed, root=root, sleep=sleep)

    def bus(self, kind: str, key: object = None):
        """Return the bus of ``kind`` (``"i2c"``, ``"w1"``, ``"gpio"``, ...) for ``key``."""
        with self._lock:
            if self._closed:
                raise ConfigError(f"backend is closed; cannot open a {kind} bus")
            if (kind, key) not in self._buses:
                if kind not in self._openers:
                    raise ConfigError(
                        f"bus: must be one of {', '.join(sorted(self._openers))}, got {kind!r}"
                    )
                opened = load(self._openers[kind])(self, key)
                if not isinstance(opened, tuple):
                    opened = (opened, getattr(opened, "close", None))
                self._buses[(kind, key)] = opened
            return self._buses[(kind, key)][0]

    def i2c(self, number: int):
        """Return the I2C bus ``number`` (an ``smbus2.SMBus`` or an emulated one)."""
        return self.bus("i2c", number)

    def w1(self):
        """Return the 1-wire sysfs bus."""
        return self.bus("w1")

    def pin_factory(self):
        """Return the gpiozero pin factory to pass as ``pin_factory=``."""
        return self.bus("gpio")

    def emulator(self, device):
        """Return the chip emulator behind ``device``; raise NotEmulatedError on real hardware."""
        raise NotEmulatedError(f"{device!r} runs on real hardware; there is no emulator")

    def close(self) -> None:
        """Close every bus this backend opened; calling it again does nothing."""
        with self._lock:
            buses, self._buses = self._buses, {}
            self._closed = True
        for _, closer in reversed(list(buses.values())):
            if closer is not None:
                closer()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class RealBackend(Backend):
    """The machine's own buses: ``/dev/i2c-N``, the w1 sysfs tree, gpiozero's default pins."""

    def __init__(self, *, clock=None, w1_root: str | Path = W1_SYSFS) -> None:
        super().__init__(clock=clock)
        self.w1_root = Path(w1_root)


class BusClock:
    """What emulated chips see as time: the injected clock plus the time drivers spent waiting.

    With a manual clock a driver's wait for a conversion cannot sleep, and advancing the
    program's own clock from a sensor thread would move everyone's time. The bus keeps
    its own offset instead: chips see the wait pass, the program's clock does not move.
    """

    def __init__(self, clock) -> None:
        self.clock = clock
        self.waited = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the injected wall time plus the waits so far."""
        return self.clock.now() + self.waited

    def monotonic(self) -> float:
        """Return the injected monotonic time plus the waits so far."""
        return self.clock.monotonic() + self.waited

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass on the bus without moving the injected clock."""
        with self._lock:
            self.waited += max(0.0, seconds)


class EmulatedBackend(Backend):
    """Emulated buses with chip emulators, all driven by the injected clock.

    With a clock that has ``advance`` (``ManualClock``) the drivers' waits for
    conversions pass on :attr:`bus_clock` and take no real time; with a real clock
    they are real sleeps, as on hardware.
    """

    is_emulated = True
    _openers = EMULATED_BUSES

    def __init__(self, *, clock=None, seed: int = 0, root=None, sleep=None) -> None:
        super().__init__(clock=clock, sleep=sleep)
        if hasattr(self.clock, "advance"):
            self.bus_clock = BusClock(self.clock)
            if sleep is None:
                self.sleep = self.bus_clock.wait
        self.seed = seed
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="wardlink-emulated-") if root is None else root)
        self.w1_root = self.root / "sys" / "bus" / "w1" / "devices"
        self._emulators: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def device_seed(self, driver: str, params: Mapping) -> int:
        """Return a seed that differs per device but is stable across runs."""
        key = f"{self.seed}:{driver}:{sorted(params.items())!r}"
        return zlib.crc32(key.encode())

    def remember(self, device, emulator) -> None:
        """Record which emulator answers for ``device``."""
        self._emulators[device] = emulator

    def emulator(self, device):
        """Return the chip emulator behind ``device`` (for tests and fault injection)."""
        try:
            return self._emulators[device]
        except KeyError:
            raise NotEmulatedError(f"{device!r} was not opened on this backend") from None

    def close(self) -> None:
        """Close the buses and remove the emulated sysfs tree if this backend created it."""
        super().close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
