"""Driver parameters: their types and :class:`ParamSpec`, which converts and checks one value.

A value from configuration is converted once, at start-up; an error names the key and says
what would be accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wardlink.hardware.backend import load
from wardlink.hardware.errors import ConfigError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a parameter that has none: configuration must give it.
REQUIRED: Any = _Required()


class FloatPair:
    """Parameter type: two numbers ``[low, high]`` (for example a transducer's 0.5..4.5 V)."""


class Pin:
    """Parameter type: a GPIO pin, as a Broadcom number (17) or a gpiozero name ("GPIO17")."""


_PIN_NAME = re.compile(r"^(GPIO|BCM)?\d{1,2}$|^(BOARD|J8:)\d{1,2}$")


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, str):
        return int(value, 0)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise TypeError
    return value


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError
    return float(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
    if isinstance(value, str) and value.lower() in words:
        return words[value.lower()]
    raise TypeError


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _as_pair(value: Any) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or len(value) != 2:
        raise TypeError
    low, high = (_as_float(v) for v in value)
    if low == high:
        raise TypeError
    return (low, high)


def _as_pin(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"GPIO{value}"
    if isinstance(value, str) and _PIN_NAME.match(value):
        return value
    raise TypeError


# type -> (converter, words for error messages)
_TYPES = {
    int: (_as_int, "an integer"),
    float: (_as_float, "a number"),
    bool: (_as_bool, "true or false"),
    str: (_as_str, "a string"),
    FloatPair: (_as_pair, "two different numbers [low, high]"),
    Pin: (_as_pin, "a GPIO pin such as 17 or 'GPIO17'"),
}


@dataclass(frozen=True)
class ParamSpec:
    """One driver parameter: type, default (or REQUIRED), help and allowed values."""

    type: type
    default: Any = REQUIRED
    help: str = ""
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    hex: bool = False

    @property
    def required(self) -> bool:
        """True if configuration must give this parameter."""
        return self.default is REQUIRED

    def show(self, value: Any) -> str:
        """Return ``value`` as configuration would spell it (hex for addresses)."""
        if self.hex and isinstance(value, int):
            return f"0x{value:02X}"
        return repr(value) if isinstance(value, str) else str(value)

    def convert(self, key: str, value: Any) -> Any:
        """Return ``value`` converted and checked; raise ConfigError naming ``key``."""
        if value is None and self.default is None:
            return None
        converter, words = _TYPES[self.type]
        try:
            value = converter(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: must be {words}, got {value!r}") from None
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(self.show(c) for c in self.choices)
            raise ConfigError(f"{key}: must be one of {allowed}, got {self.show(value)}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{key}: must be >= {self.show(self.minimum)}, got {self.show(value)}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"{key}: must be <= {self.show(self.maximum)}, got {self.show(value)}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ConfigError(f"{key}: must match {self.pattern}, got {value!r}")
        return value

    def describe(self) -> dict:
        """Return a JSON-friendly description for ``wardlink-edge drivers``."""
        text = {
            "type": getattr(self.type, "__name__", str(self.type)),
            "required": self.required,
            "help": self.help,
        }
        if not self.required:
            text["default"] = None if self.default is None else self.show(self.default)
        if self.choices is not None:
            text["choices"] = [self.show(c) for c in self.choices]
        for bound in ("minimum", "maximum", "pattern"):
            if getattr(self, bound) is not None:
                text[bound] = self.show(getattr(self, bound)) if bound != "pattern" else self.pattern
        return text


@dataclass(frozen=True)
class StructuredParam(ParamSpec):
    """A parameter holding structure (register points, field maps, tag lists).

    ``parse`` is ``"module:function(value, key)"``, imported only when a device of the
    driver is configured; it validates the value, names the bad key and returns it converted.
    """

    parse: str = ""

    def convert(self, key: str, value: Any) -> Any:
        """Return ``value`` parsed by the driver's parser; raise ConfigError naming ``key``."""
        if value is None and self.default is None:
            return None
        return load(self.parse)(value, key)

    def describe(self) -> dict:
        """Return a JSON-friendly description for ``wardlink-edge drivers``."""
        text = {"type": self.type.__name__, "required": self.required, "help": self.help}
        if not self.required:
            text["default"] = self.default
        return text
