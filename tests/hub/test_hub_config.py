"""Hub configuration: defaults, file, environment, and errors that name the key."""

from __future__ import annotations

import pytest

from wardlink.hub.config import load_config
from wardlink.hub.errors import ConfigError


def test_defaults_need_no_file_and_keep_data_in_the_data_dir(tmp_path):
    cfg = load_config(environ={}, overrides={"data_dir": str(tmp_path)})
    assert cfg.telemetry == "sqlite"
    assert cfg.resolved_database_url == f"sqlite:///{(tmp_path / 'wardlink.db').resolve()}"
    assert cfg.resolved_telemetry_path == tmp_path / "telemetry.db"
    assert cfg.secure_cookies is True


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('[hub]\nweb_port = 9000\nsite_name = "North"\n')
    cfg = load_config(path, environ={"WARDLINK_WEB_PORT": "9100", "WARDLINK_SECURE_COOKIES": "no"})
    assert (cfg.web_port, cfg.site_name, cfg.secure_cookies) == (9100, "North", False)


@pytest.mark.parametrize("text, message", [
    ('telemetry = "mongodb"', "telemetry: must be one of sqlite, influxdb, got 'mongodb'"),
    ('telemetry = "influxdb"', "influx_url: required when telemetry = 'influxdb'"),
    ("web_port = 70000", "web_port: must be 1..65535, got 70000"),
    ('web_port = "eighty"', "web_port: must be an integer, got 'eighty'"),
    ('mqtt_url = "http://broker"', "mqtt_url: must start with mqtt:// or mqtts://"),
    ('mqtt_share_group = "a/b"', "mqtt_share_group: must not contain"),
    ('web_prot = 80', "web_prot: unknown setting"),
    ("secure_cookies = 3", "secure_cookies: must be true or false"),
    ('trusted_proxies = "10.0.0.0/33"', "trusted_proxies: must be a number of proxy hops or addresses"),
    ("trusted_proxies = 11", "trusted_proxies: at most 10 proxy hops"),
])
def test_bad_settings_are_refused_naming_the_key(tmp_path, text, message):
    path = tmp_path / "hub.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path, environ={})


def test_unreadable_file_and_broken_toml_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("web_port = = 1\n")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_config(broken, environ={})


def test_secrets_come_from_files(tmp_path):
    secret = tmp_path / "mqtt.pw"
    secret.write_text("s3cret\n")
    cfg = load_config(environ={"WARDLINK_MQTT_PASSWORD_FILE": str(secret)})
    assert cfg.read_secret("mqtt_password_file") == "s3cret"
    assert load_config(environ={}).read_secret("mqtt_password_file") is None
    missing = load_config(environ={"WARDLINK_MQTT_PASSWORD_FILE": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="mqtt_password_file: cannot read"):
        missing.read_secret("mqtt_password_file")


def test_every_setting_is_in_the_configuration_reference():
    from pathlib import Path

    from wardlink.hub.config import FIELDS

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name in FIELDS if f"| `{name}` | `WARDLINK_{name.upper()}`" not in text]
    assert not missing, f"docs/configuration.md lacks {missing}"
