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


def test_an_alert_mail_shows_the_value_in_display_units_and_times_in_the_sites_zone():
    from wardlink.hub.services.alerts.notifications import Notification

    note = Notification(event="opened", alert_id=3, rule="room-pressure", severity="warning", state="open",
                        title="ENV-ICU-1: pressure low", value=99512.0, unit="Pa", metric="pressure",
                        condition_since="2026-07-01T10:00:00+00:00", opened_at="2026-01-01T10:05:00+00:00",
                        timezone="Europe/Berlin")
    facts = _facts(note)
    assert facts["Value"] == "995.1 hPa"
    assert facts["Condition since"] == "2026-07-01 12:00:00 CEST"  # summer time
    assert facts["Opened"] == "2026-01-01 11:05:00 CET"
    door = Notification(event="opened", alert_id=4, rule="door", severity="warning", state="open", title="t",
                        value=1.0, unit="state", metric="door")
    assert _facts(door)["Value"] == "Open"
    # Payloads written before units were known still read as before.
    old = Notification.from_payload({"event": "opened", "alert_id": 1, "rule": "r", "severity": "info",
                                     "state": "open", "title": "t", "value": 9.25,
                                     "opened_at": "2026-01-01T10:05:00+00:00"})
    assert _facts(old)["Value"] == "9.25" and _facts(old)["Opened"] == "2026-01-01T10:05:00+00:00"


def _facts(note) -> dict[str, str]:
    return dict((k, v.strip()) for k, _, v in (line.partition(":") for line in note.text().splitlines()) if v)
