"""Sensor and actuator drivers for Wardlink gateways, each with an emulator.

Drivers never open a bus themselves: they receive it from a
:class:`wardlink.hardware.backend.Backend`, which is either the real one (``/dev/i2c-*``,
``/sys/bus/w1/devices``, the default gpiozero pin factory) or the emulated one
(chip emulators on an in-memory I2C bus, a sysfs-like tree, gpiozero's mock pins).
Start at :mod:`wardlink.hardware.registry`.
"""

from wardlink.hardware.errors import HardwareError

__all__ = ["HardwareError"]
