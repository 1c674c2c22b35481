"""Exceptions raised by the hardware package.

Every class derives from :class:`HardwareError` *and* from the builtin that best
describes it, so callers may catch either (``except OSError`` still sees a bus
fault, ``except ValueError`` still sees a bad checksum).
"""

from __future__ import annotations

from wardlink.errors import WardlinkError


class HardwareError(WardlinkError):
    """Base class for every error raised by a driver, bus, emulator or the registry."""


class ConfigError(HardwareError, ValueError):
    """A driver parameter is missing, unknown or outside its allowed values."""


class BusError(HardwareError, OSError):
    """A transfer on a bus failed (carries the kernel's ``errno`` when there is one)."""


class NackError(BusError):
    """The device did not acknowledge (``EREMOTEIO``): busy, not ready, or a bus fault."""


class DeviceAbsentError(BusError):
    """Nothing answers at the configured address or device id."""


class DecodeError(HardwareError, ValueError):
    """Bytes read from a device do not form a valid frame."""


class CRCError(DecodeError):
    """A checksum sent by the device does not match its data."""


class InvalidReadingError(HardwareError, ValueError):
    """The device answered correctly but the value is not a measurement."""


class ResetValueError(InvalidReadingError):
    """The value is the chip's power-on reset value, not a conversion result."""


class OutOfRangeError(HardwareError, ValueError):
    """The measured quantity lies outside what the device or transducer can report."""


class SensorTimeoutError(HardwareError, TimeoutError):
    """A conversion did not complete within the time the datasheet allows."""


class DeviceClosedError(HardwareError, RuntimeError):
    """The device was used after :meth:`close`."""


class NotEmulatedError(HardwareError, LookupError):
    """An emulator was requested for a device that has none (for example on real hardware)."""


class NotModelledError(HardwareError, NotImplementedError):
    """The emulator does not model this command or feature; a real chip would act on it."""


class DeviceExceptionError(HardwareError, OSError):
    """The device understood the request and refused it (a Modbus exception response)."""


class UnknownObjectError(DecodeError):
    """A payload holds an object id this decoder does not know, so its length is unknown."""


class DecryptionError(DecodeError):
    """An encrypted payload cannot be opened: no key, wrong key, or a failed integrity check."""


__all__ = [
    "BusError",
    "CRCError",
    "ConfigError",
    "DecodeError",
    "DeviceAbsentError",
    "DeviceClosedError",
    "DeviceExceptionError",
    "DecryptionError",
    "HardwareError",
    "InvalidReadingError",
    "NackError",
    "NotEmulatedError",
    "NotModelledError",
    "OutOfRangeError",
    "ResetValueError",
    "SensorTimeoutError",
    "UnknownObjectError",
]
