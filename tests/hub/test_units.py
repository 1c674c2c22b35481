"""Units: stored codes are shown as people read them, converted where the display unit differs."""

from __future__ import annotations

import pytest

from wardlink.hub.db import units


@pytest.mark.parametrize(("value", "code", "metric", "shown"), [
    (4.56, "degC", "temperature", "4.6 °C"),
    (-18.0, "degC", "temperature", "-18 °C"),
    (45.4, "%RH", "humidity", "45 %RH"),
    (101325.0, "Pa", "pressure", "1013.3 hPa"),  # stored in pascals, shown in hectopascals
    (99990.0, "Pa", "pressure", "999.9 hPa"),
    (0.423, "A", "current", "0.42 A"),
    (230.04, "V", "voltage", "230 V"),
    (1500.4, "W", "power", "1500 W"),
    (12.345, "kWh", "energy", "12.35 kWh"),
    (1.0, "state", "door", "Open"),
    (0.0, "state", "door", "Closed"),
    (1.0, "state", "button", "Pressed"),
    (0.0, "state", "pump", "Off"),
    (1.0, "state", None, "On"),
    (None, "degC", "temperature", "—"),
    (None, "state", "door", "—"),
    (3.5, "furlongs", "distance", "3.5 furlongs"),  # unknown codes are shown unchanged
    (7.0, "", "count", "7"),
])
def test_display(value, code, metric, shown):
    assert units.display(value, code, metric) == shown


def test_symbols_labels_and_conversion():
    assert units.unit("degC").symbol == "°C" and units.unit("degC").label == "degrees Celsius"
    assert units.unit("Pa").symbol == "hPa" and units.unit("Pa").convert(101325.0) == pytest.approx(1013.25)
    assert units.unit("%RH").symbol == "%RH"
    assert units.unit("state").digital and units.unit("state").convert(1.0) == 1.0
    assert units.state_words("door") == ("Closed", "Open")
    assert units.state_words("Door") == ("Closed", "Open")
    assert units.state_words("anything") == ("Off", "On")
    assert units.display_value(101325.0, "Pa") == "1013.3"
    assert units.unit(None).symbol == ""
