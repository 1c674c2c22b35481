"""Channels may pick quantities that a driver's parameters name (Modbus points, BTHome objects).

``wardlink-edge drivers`` lists such drivers with few or no fixed quantities ("reports the
quantities named in points"); the config must accept what the parameters make the device report,
and still refuse a quantity the device will never report.
"""

from __future__ import annotations

import tomllib

import pytest

from wardlink.edge.config import parse_config
from wardlink.edge.errors import ConfigError

BASE = """
gateway_id = "gw-icu-01"
data_dir = "/var/lib/wardlink-edge"
[broker]
url = "mqtt://127.0.0.1:1883"
[hardware]
backend = "emulated"
"""

CHILLER = ('{ port = "/dev/ttyUSB0", unit = 3, points = ['
           '{ quantity = "supply_temperature", address = 16, kind = "input", type = "float32", unit = "degC" } ] }')


def channel(driver: str, params: str, quantity: str) -> str:
    return (f'\n[[channels]]\nid = "c1"\ndriver = "{driver}"\nparams = {params}\n'
            f'quantity = "{quantity}"\ninterval = 5\n')


def test_a_modbus_point_is_a_quantity_of_its_channel():
    config = parse_config(tomllib.loads(BASE + channel("modbus_rtu", CHILLER, "supply_temperature")))
    (ch,) = config.channels
    assert (ch.quantity, ch.unit) == ("supply_temperature", "degC")


def test_a_bthome_sensor_reports_temperature():
    config = parse_config(tomllib.loads(BASE + channel("bthome", '{ address = "54:48:E6:8F:80:A5" }', "temperature")))
    assert config.channels[0].unit == "degC"


def test_a_quantity_the_parameters_do_not_name_is_still_refused():
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(BASE + channel("modbus_rtu", CHILLER, "flow")))
    assert any("channels[0].quantity" in p and "supply_temperature" in p for p in info.value.problems)


def test_invalid_parameters_are_reported_and_the_quantity_judged_on_the_fixed_list():
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(BASE + channel("modbus_rtu", '{ port = "/dev/ttyUSB0" }', "flow")))
    assert any(p.startswith("channels[0].params") for p in info.value.problems)
