"""Gateway config validation: every problem names its key and what would be accepted."""

from __future__ import annotations

import os
import textwrap
import tomllib
from pathlib import Path

import pytest

from wardlink.edge.config import load_config, parse_config
from wardlink.edge.credentials import load_credentials
from wardlink.edge.errors import ConfigError, CredentialsError

from edge_support import config_text

BASE = """
gateway_id = "gw-icu-01"
data_dir = "/var/lib/wardlink-edge"
[broker]
url = "mqtt://127.0.0.1:1883"
"""

CHANNEL = """
[[channels]]
id = "fridge1.temp"
driver = "ds18b20"
params = {{ device_id = "28-0000075a1b2c" }}
quantity = "temperature"
interval = {interval}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text))
    return info.value.problems


def test_the_documented_example_config_is_valid(tmp_path):
    path = tmp_path / "gw.toml"
    path.write_text(config_text(tmp_path / "data", 1883))
    cfg = load_config(path)
    assert cfg.gateway_id == "gw-test-01"
    assert cfg.client_id == "wardlink-gw-gw-test-01"
    assert [c.id for c in cfg.channels] == ["room.temp", "room.humidity", "pump1.current", "fridge1.door"]
    humidity = cfg.channels[1]
    assert humidity.unit == "%RH", "the unit defaults to the driver's unit"
    assert humidity.metric == "humidity"
    assert cfg.channels[0].device_key == humidity.device_key, "both read the same BME280"
    assert cfg.channels[3].params["pin"] == "GPIO17", "driver parameters are validated with defaults"


def test_interval_below_minimum_names_the_key_and_the_limit():
    assert problems_of(BASE + CHANNEL.format(interval=0)) == ["channels[0].interval: must be >= 0.1 s, got 0"]


def test_all_problems_are_reported_at_once():
    text = BASE.replace('"gw-icu-01"', '"bad id!"') + """
[buffer]
commit_interval = 5
synchronous = "off"
[forwarder]
batch_max_readings = 100000
""" + CHANNEL.format(interval='"fast"')
    found = problems_of(text)
    assert any(p.startswith("gateway_id: must match") for p in found)
    assert "buffer.commit_interval: must be <= 1.0 s, got 5" in found
    assert "buffer.synchronous: must be one of 'full', 'normal', got 'off'" in found
    assert "forwarder.batch_max_readings: must be <= 5000, got 100000" in found
    assert "channels[0].interval: must be a number s, got 'fast'" in found


def test_unknown_keys_are_typos_and_are_refused():
    found = problems_of(BASE.replace("[broker]", "[broker]\nkeep_alive = 30"))
    assert len(found) == 1 and found[0].startswith("broker.keep_alive: unknown key; allowed keys here:")
    assert "keepalive" in found[0]


def test_driver_quantity_and_params_are_checked_against_the_registry():
    text = BASE + """
[[channels]]
id = "a"
driver = "ds18b21"
interval = 1
[[channels]]
id = "b"
driver = "bme280"
quantity = "co2"
interval = 1
[[channels]]
id = "c"
driver = "ds18b20"
params = { device_id = "not-an-id" }
interval = 1
[[channels]]
id = "d"
driver = "ina219"
params = { address = 0x20 }
quantity = "current"
interval = 1
"""
    found = problems_of(text)
    assert found[0].startswith("channels[0].driver: unknown driver 'ds18b21'; known drivers:")
    assert "ds18b20" in found[0]
    assert found[1] == "channels[1].quantity: driver 'bme280' measures humidity, pressure, temperature, got 'co2'"
    assert found[2].startswith("channels[2].params: device_id: must match")
    assert found[3].startswith("channels[3].params: address: must be one of 0x40")


def test_a_transducer_range_that_contradicts_the_wiring_is_refused_with_the_key():
    text = BASE + """
[[channels]]
id = "o2.bank_a"
driver = "ads1115"
params = { transducer = "4-20mA", scale_to = [0, 250], quantity = "pressure", unit = "bar" }
quantity = "pressure"
interval = 60
[[channels]]
id = "o2.bank_b"
driver = "ads1115"
params = { channel = "a1", transducer = "0.5-4.5V", scale_to = [0, 250], quantity = "pressure" }
quantity = "pressure"
interval = 60
"""
    found = problems_of(text)
    assert "channels[0].params: shunt_ohms: required by transducer = '4-20mA' (the loop's burden resistor, " \
           "e.g. 150)" in found
    assert "channels[1].params: fsr_v: 4.096 V does not cover the transducer's 4.5 V" in found


def test_duplicate_and_reserved_channel_ids_are_refused():
    text = BASE + CHANNEL.format(interval=1) + CHANNEL.format(interval=2) + CHANNEL.format(interval=1).replace(
        "fridge1.temp", "gw.uptime")
    found = problems_of(text)
    assert "channels[1].id: duplicate channel id 'fridge1.temp' (also channels[0])" in found
    assert any(p.startswith("channels[2].id: ids starting with 'gw.' are reserved") for p in found)


def test_emulation_settings_need_the_emulated_backend():
    text = BASE + CHANNEL.format(interval=1) + "emulate = { mean = 4.0 }\n"
    assert problems_of(text) == ['channels[0].emulate: is only allowed with hardware.backend = "emulated"']


def test_a_remote_broker_needs_credentials_and_tls_files_need_mqtts():
    text = BASE.replace("mqtt://127.0.0.1:1883", "mqtt://hub.example.org").replace(
        "[broker]", '[broker]\nca_file = "/etc/ssl/ca.pem"')
    found = problems_of(text)
    assert "broker.ca_file: TLS files need an mqtts:// url" in found
    assert any(p.startswith("broker.credentials_file: is required for a broker that is not on loopback") for p in found)
    assert problems_of(BASE.replace("mqtt://", "http://")) == [
        "broker.url: scheme must be one of mqtt://, mqtts://, got 'http://127.0.0.1:1883'"]


def test_alarm_rules_refer_to_existing_channels_and_outputs():
    text = BASE + CHANNEL.format(interval=1) + """
[[alarms]]
channel = "fridge9.temp"
above = 8.0
[[alarms]]
channel = "fridge1.temp"
above = 2.0
below = 8.0
output = "siren"
[[alarms]]
channel = "fridge1.temp"
for_s = 10
"""
    found = problems_of(text)
    assert found[0] == "alarms[0].channel: no channel 'fridge9.temp'; channels: fridge1.temp"
    assert "alarms[1].below: must be < above (2.0), got 8.0" in found
    assert "alarms[1].output: no output 'siren'; outputs: none configured" in found
    assert "alarms[2].above: give above, below or both" in found


def test_missing_file_and_bad_toml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("gateway_id = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


# --------------------------------------------------------------------------- credentials


def write_secret(tmp_path, text: str, mode: int):
    path = tmp_path / "gateway.secret"
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("text", ["username=gw-icu-01\npassword=s3cret=x\n",
                                  'username = "gw-icu-01"\npassword = "s3cret=x"\n'])
def test_credentials_file_in_line_or_toml_form(tmp_path, text):
    creds = load_credentials(write_secret(tmp_path, text, 0o600))
    assert (creds.username, creds.password) == ("gw-icu-01", "s3cret=x")
    assert "s3cret" not in repr(creds)


def test_credentials_readable_by_others_are_refused(tmp_path):
    path = write_secret(tmp_path, "username=a\npassword=b\n", 0o644)
    with pytest.raises(CredentialsError, match=r"mode 0644; it must be 0600 or 0400"):
        load_credentials(path)


def test_credentials_without_password_are_refused(tmp_path):
    path = write_secret(tmp_path, "username=a\n", 0o600)
    with pytest.raises(CredentialsError, match="password is missing"):
        load_credentials(path)


def test_the_documented_manifold_channels_are_valid():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "hardware.md").read_text()
    blocks = [b.split("```", 1)[0] for b in doc.split("```toml\n")[1:]]
    manifold = next(textwrap.dedent(b) for b in blocks if 'kind = "manifold"' in b)
    bank_b = manifold.replace('"o2.bank_a"', '"o2.bank_b"').replace('"a0"', '"a1"').replace('bank = "a"', 'bank = "b"')
    config = parse_config(tomllib.loads(BASE + '[hardware]\nbackend = "emulated"\n' + manifold + bank_b))
    assert [(c.id, c.params["input"], c.params["scale_from"]) for c in config.channels] == [
        ("o2.bank_a", "voltage", (0.5, 4.5)), ("o2.bank_b", "voltage", (0.5, 4.5))]
    assert config.channels[1].emulate["bank"] == "b"
    wired = next(textwrap.dedent(b) for b in blocks if 'transducer = "4-20mA"' in b)
    assert parse_config(tomllib.loads(BASE + wired)).channels[0].params["input"] == "current"
