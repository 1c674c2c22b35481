"""The emulated I2C bus, the chip-emulator base classes and the driver-side I2C base.

:class:`EmulatedI2CBus` offers the subset of ``smbus2.SMBus`` that drivers use and
turns each call into the I2C transactions a real adapter would put on the wire
(a write of the register pointer, then a read). Chips answer those transactions;
a NACK surfaces as ``OSError(EREMOTEIO)`` and an empty address as ``OSError(ENXIO)``,
as the Linux i2c-dev interface reports them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from contextlib import contextmanager

from smbus2 import i2c_msg
from smbus2.smbus2 import I2C_M_RD, I2C_SMBUS_BLOCK_MAX

from wardlink.hardware.device import Device
from wardlink.hardware.emulation import ChipEmulator
from wardlink.hardware.errors import (
    BusError,
    ConfigError,
    DeviceAbsentError,
    HardwareError,
    NackError,
    NotModelledError,
)


class Nack(Exception):
    """Raised by a chip emulator to refuse a transaction (the bus turns it into EREMOTEIO)."""


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class I2CChip(ChipEmulator):
    """Base for emulated I2C chips: answer write and read transactions.

    Every I2C chip models the faults ``nack`` (the next transactions are not
    acknowledged) and ``absent`` (the chip stops answering its address), which the
    bus applies before the chip sees the transaction.
    """

    FAULTS = frozenset({"nack", "absent"})

    def write(self, data: bytes) -> None:
        """Handle a write transaction (pointer or command bytes first)."""
        raise NotModelledError(f"{type(self).__name__}: write transactions are not modelled")

    def read(self, length: int) -> bytes:
        """Handle a read transaction of ``length`` bytes."""
        raise NotModelledError(f"{type(self).__name__}: read transactions are not modelled")


class RegisterChip(I2CChip):
    """A chip with a register pointer: the first byte written selects the register."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.pointer = 0

    def write(self, data: bytes) -> None:
        """Set the register pointer from the first byte and write the rest from there."""
        if not data:
            raise Nack("empty write")
        self.pointer = data[0]
        if len(data) > 1:
            self.write_register(data[0], bytes(data[1:]))

    def read(self, length: int) -> bytes:
        """Read from the register the pointer selects."""
        return self.read_register(self.pointer, length)

    def write_register(self, register: int, data: bytes) -> None:
        """Store ``data`` written to ``register`` (subclasses define what that does)."""
        raise NotModelledError(f"{type(self).__name__}: register 0x{register:02X} is not writable")

    def read_register(self, register: int, length: int) -> bytes:
        """Return ``length`` bytes starting at ``register``."""
        raise NotModelledError(f"{type(self).__name__}: register 0x{register:02X} is not modelled")


class EmulatedI2CBus:
    """An I2C adapter with chip emulators attached at 7-bit addresses (smbus2 API subset)."""

    def __init__(self, bus: int = 1) -> None:
        self.bus = bus
        self.chips: dict[int, I2CChip] = {}
        self.closed = False
        self.transactions = 0
        self._lock = threading.RLock()

    # -- wiring -------------------------------------------------------------------------

    def attach(self, address: int, chip: I2CChip) -> I2CChip:
        """Solder ``chip`` to the bus at ``address``."""
        if not 0x03 <= address <= 0x77:
            raise ConfigError(f"address: must be a 7-bit address 0x03..0x77, got 0x{address:02X}")
        if address in self.chips and self.chips[address] is not chip:
            existing = type(self.chips[address]).__name__
            raise ConfigError(f"address: 0x{address:02X} on i2c-{self.bus} is taken by {existing}")
        self.chips[address] = chip
        return chip

    def detach(self, address: int) -> None:
        """Remove whatever chip sits at ``address``."""
        self.chips.pop(address, None)

    # -- transactions -------------------------------------------------------------------

    def _chip(self, address: int) -> I2CChip:
        if self.closed:
            raise _oserror(errno.EBADF)
        chip = self.chips.get(address)
        if chip is None or chip.is_faulted("absent"):
            raise _oserror(errno.ENXIO)
        if chip.take_fault("nack"):
            raise _oserror(errno.EREMOTEIO)
        return chip

    def _transfer(self, address: int, *steps: tuple[str, object]) -> list[bytes]:
        """Run write/read steps as one combined transaction (repeated starts, one stop)."""
        with self._lock:
            chip = self._chip(address)
            self.transactions += 1
            out = []
            try:
                for kind, arg in steps:
                    if kind == "w":
                        chip.write(bytes(arg))
                    else:
                        data = bytes(chip.read(arg))
                        assert len(data) == arg, f"{type(chip).__name__} returned {len(data)} bytes"
                        out.append(data)
            except Nack:
                raise _oserror(errno.EREMOTEIO) from None
            return out

    def write_quick(self, i2c_addr: int, force=None) -> None:
        """Address the chip with no data (what ``i2cdetect`` does)."""
        with self._lock:
            self._chip(i2c_addr)

    def read_byte(self, i2c_addr: int, force=None) -> int:
        """Read one byte without a register pointer."""
        return self._transfer(i2c_addr, ("r", 1))[0][0]

    def write_byte(self, i2c_addr: int, value: int, force=None) -> None:
        """Write one byte without a register pointer."""
        self._transfer(i2c_addr, ("w", [value]))

    def read_byte_data(self, i2c_addr: int, register: int, force=None) -> int:
        """Read one byte from ``register``."""
        return self._transfer(i2c_addr, ("w", [register]), ("r", 1))[0][0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force=None) -> None:
        """Write one byte to ``register``."""
        self._transfer(i2c_addr, ("w", [register, value]))

    def read_word_data(self, i2c_addr: int, register: int, force=None) -> int:
        """Read a 16-bit word; SMBus sends the low byte first."""
        low, high = self._transfer(i2c_addr, ("w", [register]), ("r", 2))[0]
        return low | high << 8

    def write_word_data(self, i2c_addr: int, register: int, value: int, force=None) -> None:
        """Write a 16-bit word, low byte first (SMBus order)."""
        self._transfer(i2c_addr, ("w", [register, value & 0xFF, value >> 8 & 0xFF]))

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force=None) -> list[int]:
        """Read ``length`` (<= 32) bytes starting at ``register``."""
        if length > I2C_SMBUS_BLOCK_MAX:
            raise ValueError(f"Desired block length over {I2C_SMBUS_BLOCK_MAX} bytes")
        return list(self._transfer(i2c_addr, ("w", [register]), ("r", length))[0])

    def write_i2c_block_data(self, i2c_addr: int, register: int, data, force=None) -> None:
        """Write up to 32 bytes starting at ``register``."""
        if len(data) > I2C_SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {I2C_SMBUS_BLOCK_MAX} bytes")
        self._transfer(i2c_addr, ("w", [register, *data]))

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None:
        """Run raw messages as one combined transaction, filling the read buffers."""
        if not i2c_msgs:
            return
        addresses = {m.addr for m in i2c_msgs}
        if len(addresses) != 1:
            raise NotModelledError("combined transactions to several addresses are not modelled")
        steps = [("r", m.len) if m.flags & I2C_M_RD else ("w", bytes(m)) for m in i2c_msgs]
        results = iter(self._transfer(addresses.pop(), *steps))
        for msg in i2c_msgs:
            if msg.flags & I2C_M_RD:
                data = next(results)
                ctypes.memmove(msg.buf, data, len(data))

    def close(self) -> None:
        """Close the adapter; further transfers fail with EBADF as on a closed fd."""
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# errno -> (exception class, what it usually means on an I2C bus)
_ERRNO = {
    errno.ENXIO: (DeviceAbsentError, "no device answers at this address"),
    errno.EREMOTEIO: (NackError, "no acknowledge (device absent, busy, or bus fault)"),
    errno.ETIMEDOUT: (BusError, "bus timed out (SDA or SCL held low?)"),
    errno.EIO: (BusError, "I/O error on the bus"),
}


class I2CDevice(Device):
    """Base for I2C drivers: holds the bus and address, converts OSErrors to typed errors."""

    def __init__(self, bus, address: int, *, sleep) -> None:
        super().__init__(f"{self.driver}@0x{address:02X}")
        self.bus = bus
        self.address = address
        self.sleep = sleep

    @contextmanager
    def io(self, action: str):
        """Run bus I/O for ``action``, raising HardwareError subclasses instead of OSError."""
        try:
            yield
        except HardwareError:
            raise
        except OSError as exc:
            cls, meaning = _ERRNO.get(exc.errno, (BusError, "bus error"))
            raise cls(exc.errno, f"{self.label}: {action}: {meaning} [{exc.strerror}]") from exc
