"""Units of measurement: the codes readings are stored with, and how people are shown them.

Gateways report, and the stores and the JSON API keep, a unit *code* per channel (``degC``,
``%RH``, ``Pa``, ``state``...). Pages, exports and e-mails show the *display* form from this
one table: a symbol (``°C``), a label (``degrees Celsius``) and, where the stored unit is not
the one people read, a conversion (pressure is stored in pascals and shown in hectopascals).
A digital channel (unit ``state``) holds 0 or 1; its levels are shown as words that depend
on what the channel measures (the binding's metric): a door is *Closed* / *Open*, a button
*Released* / *Pressed*, anything else *Off* / *On*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Unit:
    """How values stored in one unit code are shown."""

    code: str  # as stored and served by the API
    symbol: str  # shown after a value
    label: str  # written out, for axis titles and screen readers
    scale: float = 1.0  # shown value = stored value * scale
    decimals: int = 2  # most decimals shown
    digital: bool = False  # 0/1 levels shown as words

    def convert(self, value: float | None) -> float | None:
        """Return a stored value in the display unit (None stays None)."""
        if value is None or self.digital:
            return value
        if self.scale == 1.0:
            return value
        # Through decimals, so 101325 Pa is 1013.25 hPa exactly (and rounds to 1013.3).
        return float(Decimal(repr(value)) * Decimal(repr(self.scale)))

    def to_json(self) -> dict:
        """Return the form the browser scripts read (data- attributes)."""
        return {"code": self.code, "symbol": self.symbol, "label": self.label, "scale": self.scale,
                "decimals": self.decimals, "digital": self.digital}


#: Every unit code the hub knows, by code. Unknown codes are shown as they are.
UNITS: dict[str, Unit] = {u.code: u for u in (
    Unit("degC", "°C", "degrees Celsius", decimals=1),
    Unit("degF", "°F", "degrees Fahrenheit", decimals=1),
    Unit("K", "K", "kelvin", decimals=1),
    Unit("%RH", "%RH", "relative humidity", decimals=0),
    Unit("%", "%", "percent", decimals=1),
    Unit("Pa", "hPa", "hectopascals", scale=0.01, decimals=1),
    Unit("hPa", "hPa", "hectopascals", decimals=1),
    Unit("kPa", "kPa", "kilopascals", decimals=2),
    Unit("bar", "bar", "bar", decimals=2),
    Unit("A", "A", "amperes", decimals=2),
    Unit("mA", "mA", "milliamperes", decimals=0),
    Unit("V", "V", "volts", decimals=1),
    Unit("W", "W", "watts", decimals=0),
    Unit("kW", "kW", "kilowatts", decimals=2),
    Unit("Wh", "Wh", "watt-hours", decimals=0),
    Unit("kWh", "kWh", "kilowatt-hours", decimals=2),
    Unit("Hz", "Hz", "hertz", decimals=1),
    Unit("ppm", "ppm", "parts per million", decimals=0),
    Unit("lux", "lx", "lux", decimals=0),
    Unit("L/min", "L/min", "litres per minute", decimals=1),
    Unit("L", "L", "litres", decimals=1),
    Unit("m3", "m³", "cubic metres", decimals=3),
    Unit("s", "s", "seconds", decimals=0),
    Unit("h", "h", "hours", decimals=1),
    Unit("count", "", "count", decimals=0),
    Unit("state", "", "state", decimals=0, digital=True),
)}

#: Words for the levels (0, 1) of a digital channel, by the metric it is bound as.
STATE_WORDS: dict[str, tuple[str, str]] = {
    "door": ("Closed", "Open"),
    "lid": ("Closed", "Open"),
    "window": ("Closed", "Open"),
    "button": ("Released", "Pressed"),
    "call": ("Idle", "Calling"),
    "alarm": ("Normal", "Alarm"),
    "leak": ("Dry", "Leak"),
}
DEFAULT_STATE_WORDS = ("Off", "On")


def unit(code: str | None) -> Unit:
    """Return the display form of unit ``code``; an unknown code is shown unchanged."""
    code = code or ""
    return UNITS.get(code) or Unit(code, code, code or "value")


def state_words(metric: str | None) -> tuple[str, str]:
    """Return the words for level 0 and level 1 of a digital channel bound as ``metric``."""
    return STATE_WORDS.get((metric or "").lower(), DEFAULT_STATE_WORDS)


def state_word(value: float | None, metric: str | None) -> str:
    """Return the word for a digital level (anything non-zero is level 1), or an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return state_words(metric)[1 if value else 0]


def format_number(value: float | None, decimals: int) -> str:
    """Return ``value`` rounded to ``decimals`` (trailing zeros dropped), or an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = str(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def display_value(value: float | None, code: str | None, metric: str | None = None) -> str:
    """Return a stored value as people read it, without the symbol: '4.6', '1013.3', 'Open'."""
    u = unit(code)
    if u.digital:
        return state_word(value, metric)
    return format_number(u.convert(value), u.decimals)


def display(value: float | None, code: str | None, metric: str | None = None) -> str:
    """Return a stored value with its symbol: '4.6 °C', '1013.3 hPa', '45 %RH', 'Open'."""
    text = display_value(value, code, metric)
    symbol = unit(code).symbol
    if text == "—" or not symbol or unit(code).digital:
        return text
    return f"{text} {symbol}"
