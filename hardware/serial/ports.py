"""The serial "bus": a configured port handed out by the backend, real or emulated.

Real: ``serial.Serial`` on the configured device (``/dev/ttyUSB0``, ``/dev/serial0``).
Emulated: an emulator installed for that port name serves the master side of a pty,
and the driver gets a ``serial.Serial`` on the slave side; it cannot tell the difference.
Several Modbus units may share one RS-485 port, so a :class:`SerialLine` carries a lock
that serialises transactions; a line-printer device claims its port exclusively.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from wardlink.hardware.errors import BusError, ConfigError, NotEmulatedError


@dataclass(frozen=True)
class SerialSettings:
    """Port name and line settings; the key under which the backend caches the port."""

    port: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1

    @classmethod
    def from_params(cls, params) -> SerialSettings:
        """Take the serial settings out of validated driver parameters."""
        return cls(params["port"], params["baudrate"], params["bytesize"], params["parity"], params["stopbits"])


class SerialLine:
    """An open port plus the lock and ownership record that devices sharing it need."""

    def __init__(self, port, settings: SerialSettings) -> None:
        self.port = port
        self.settings = settings
        self.lock = threading.RLock()
        self._owner: str | None = None
        self._shared_users: set[str] = set()
        self.modbus = None  # the ModbusRtuMaster of this line, created by the first Modbus device

    def claim(self, label: str, *, exclusive: bool) -> None:
        """Register ``label`` as a user; refuse mixing an exclusive user with any other."""
        with self.lock:
            if self._owner is not None or (exclusive and self._shared_users):
                holder = self._owner or sorted(self._shared_users)[0]
                raise ConfigError(f"port: {self.settings.port} is already used by {holder}")
            if exclusive:
                self._owner = label
            else:
                self._shared_users.add(label)

    def release(self, label: str) -> None:
        """Forget ``label`` as a user of this line."""
        with self.lock:
            if self._owner == label:
                self._owner = None
            self._shared_users.discard(label)

    def close(self) -> None:
        """Close the port."""
        self.port.close()


def _open_serial(name: str, settings: SerialSettings, parity: str):
    import serial  # pyserial; imported here so a gateway without serial devices skips it

    try:
        return serial.Serial(
            name, baudrate=settings.baudrate, bytesize=settings.bytesize,
            parity=parity, stopbits=settings.stopbits, timeout=0.1, exclusive=True,
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise BusError(f"cannot open serial port {name}: {exc}") from exc


def open_real(backend, settings: SerialSettings) -> SerialLine:
    """Open the machine's serial port described by ``settings``."""
    return SerialLine(_open_serial(settings.port, settings, settings.parity), settings)


# backend -> {port name: emulator}; weak so a closed, dropped backend frees its emulators.
_EMULATORS: weakref.WeakKeyDictionary[object, dict[str, object]] = weakref.WeakKeyDictionary()


def install(backend, port: str, factory):
    """Return the emulator serving ``port`` on ``backend``, creating it with ``factory()``."""
    table = _EMULATORS.setdefault(backend, {})
    if port not in table:
        table[port] = factory()
    return table[port]


def installed(backend, port: str):
    """Return the emulator installed for ``port`` on ``backend``, or None."""
    return _EMULATORS.get(backend, {}).get(port)


def open_emulated(backend, settings: SerialSettings):
    """Open the slave side of the pty served by the emulator installed for ``settings.port``."""
    emulator = installed(backend, settings.port)
    if emulator is None:
        raise NotEmulatedError(f"no emulator is installed for serial port {settings.port}")
    # A pty has no parity bit (Linux refuses PARENB on it); the line is otherwise real.
    line = SerialLine(_open_serial(emulator.port, settings, "N"), settings)
    emulator.start()  # after the open: pyserial flushes the input buffer when it opens

    def close() -> None:
        """Close the port and stop the emulator serving it."""
        line.close()
        emulator.stop()
        _EMULATORS.get(backend, {}).pop(settings.port, None)

    return line, close
