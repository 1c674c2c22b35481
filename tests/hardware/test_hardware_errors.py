"""Every hardware exception is a HardwareError and also the builtin it resembles."""

import errno

import pytest

from wardlink.hardware import errors
from wardlink.errors import WardlinkError

BUILTINS = {
    "ConfigError": ValueError,
    "BusError": OSError,
    "NackError": OSError,
    "DeviceAbsentError": OSError,
    "DecodeError": ValueError,
    "CRCError": ValueError,
    "InvalidReadingError": ValueError,
    "ResetValueError": ValueError,
    "OutOfRangeError": ValueError,
    "SensorTimeoutError": TimeoutError,
    "DeviceClosedError": RuntimeError,
    "NotEmulatedError": LookupError,
    "NotModelledError": NotImplementedError,
}


@pytest.mark.parametrize(("name", "builtin"), sorted(BUILTINS.items()))
def test_each_error_inherits_the_root_and_a_builtin(name, builtin):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.HardwareError)
    assert issubclass(cls, builtin)
    assert issubclass(cls, WardlinkError)


@pytest.mark.parametrize("name", sorted(set(errors.__all__) - {"HardwareError"}))
def test_every_exported_error_also_inherits_a_specific_builtin(name):
    cls = getattr(errors, name)
    builtins = [base for base in cls.__mro__ if base.__module__ == "builtins"]
    assert issubclass(cls, errors.HardwareError)
    assert builtins[0] not in (Exception, BaseException), f"{name} inherits no specific builtin"


def test_bus_errors_carry_errno():
    error = errors.NackError(errno.EREMOTEIO, "sht3x@0x44: no acknowledge")
    assert error.errno == errno.EREMOTEIO and "no acknowledge" in str(error)
