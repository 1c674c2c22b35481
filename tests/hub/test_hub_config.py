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
    ("notice_email_rate = -1", "notice_email_rate: must be 0 (no limit) or more e-mails per second, got -1"),
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


# ------------------------------------------------------------------ secrets and the environment


def test_the_database_password_comes_from_its_file_into_the_url(tmp_path):
    from sqlalchemy.engine import make_url

    secret = tmp_path / "db.pw"
    secret.write_text("p@ss:w/rd%\n")
    secret.chmod(0o600)
    cfg = load_config(environ={"WARDLINK_DATABASE_URL": "postgresql+psycopg://wardlink@db.example:5433/wardlink",
                               "WARDLINK_DATABASE_PASSWORD_FILE": str(secret)})
    url = make_url(cfg.resolved_database_url)
    assert (url.username, url.password, url.host, url.port, url.database) == \
        ("wardlink", "p@ss:w/rd%", "db.example", 5433, "wardlink")
    assert cfg.database_url == "postgresql+psycopg://wardlink@db.example:5433/wardlink"  # the setting keeps none


def test_a_database_password_file_is_refused_where_it_cannot_apply(tmp_path):
    secret = tmp_path / "db.pw"
    secret.write_text("pw\n")
    with pytest.raises(ConfigError, match="database_password_file: needs a database_url naming a PostgreSQL"):
        load_config(environ={"WARDLINK_DATABASE_PASSWORD_FILE": str(secret)})
    with pytest.raises(ConfigError, match="database_url: holds a password while database_password_file is set"):
        load_config(environ={"WARDLINK_DATABASE_URL": "postgresql://wardlink:old@db/wardlink",
                             "WARDLINK_DATABASE_PASSWORD_FILE": str(secret)})
    unreadable = load_config(environ={"WARDLINK_DATABASE_URL": "postgresql://wardlink@db/wardlink",
                                      "WARDLINK_DATABASE_PASSWORD_FILE": str(tmp_path / "absent.pw")})
    with pytest.raises(ConfigError, match=f"database_password_file: cannot read {tmp_path / 'absent.pw'}"):
        _ = unreadable.resolved_database_url


def test_a_secret_file_every_user_can_read_is_warned_about(tmp_path, caplog):
    secret = tmp_path / "open.pw"
    secret.write_text("pw\n")
    secret.chmod(0o644)
    closed = tmp_path / "closed.pw"
    closed.write_text("pw\n")
    closed.chmod(0o640)
    cfg = load_config(environ={"WARDLINK_MQTT_PASSWORD_FILE": str(secret), "WARDLINK_INFLUX_PASSWORD_FILE": str(closed)})
    with caplog.at_level("WARNING", logger="wardlink.hub.config"):
        assert cfg.read_secret("mqtt_password_file") == "pw"
        assert cfg.read_secret("influx_password_file") == "pw"
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [f"mqtt_password_file: {secret} is readable by every user (mode 644); run: chmod o-rwx {secret}"]


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://wardlink:s3cret@db/wardlink", "postgresql+psycopg://wardlink:***@db/wardlink"),
    ("postgresql://wardlink:p@ss@db:5432/wardlink", "postgresql://wardlink:***@db:5432/wardlink"),
    ("postgresql://wardlink@db/wardlink", "postgresql://wardlink@db/wardlink"),
    ("postgresql://db/wardlink?application_name=a@b", "postgresql://db/wardlink?application_name=a@b"),
    ("mqtts://hub:pw@broker:8883", "mqtts://hub:***@broker:8883"),
    ("sqlite:////var/lib/wardlink/wardlink.db", "sqlite:////var/lib/wardlink/wardlink.db"),
    ("", ""),
])
def test_passwords_in_urls_are_masked(url, shown):
    from wardlink.hub.config import mask_secrets

    assert mask_secrets(url) == shown


@pytest.mark.parametrize("variable, hint", [
    ("WARDLINK_DATABSE_URL", "did you mean WARDLINK_DATABASE_URL?"),
    ("WARDLINK_DATABASE_PASSWORD", "did you mean WARDLINK_DATABASE_PASSWORD_FILE?"),
    ("WARDLINK_WEBPORT", "did you mean WARDLINK_WEB_PORT?"),
    ("WARDLINK_COLOUR_SCHEME", "see docs/configuration.md for the settings"),
])
def test_an_unknown_wardlink_variable_is_an_error_naming_the_closest(variable, hint):
    with pytest.raises(ConfigError) as caught:
        load_config(environ={variable: "x"})
    assert str(caught.value) == f"{variable}: unknown environment variable; {hint}"


def test_variables_read_elsewhere_are_not_settings_and_not_errors():
    from wardlink.hub.config import OTHER_VARIABLES

    others = {name: "x" for name in OTHER_VARIABLES if name != "WARDLINK_CONFIG"}
    others.update(WARDLINK_FLASK_MAX_CONTENT_LENGTH="100", WARDLINK_PG_HOST="db:5432", WARDLINK_BENCH_MQTT_PORT="1",
                  WARDLINK_TEST_ARTIFACTS="out", OTHER_THING="y")
    assert load_config(environ=others) == load_config(environ={})


#: files that misspell a setting on purpose: these tests, and the documented error messages
MISSPELLING_TESTS = {"tests/hub/test_hub_config.py", "tests/hub/test_cli_errors.py", "docs/configuration.md",
                     "docs/deployment.md"}


def test_every_wardlink_variable_the_repository_uses_is_known():
    """Scripts, units, docs and code name only settings or the variables read elsewhere."""
    import re
    import subprocess
    from pathlib import Path

    from wardlink.hub.config import FIELDS, OTHER_PREFIXES, OTHER_VARIABLES, env_name

    root = Path(__file__).resolve().parents[2]
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    used = set()
    for name in files:
        path = root / name
        if name in MISSPELLING_TESTS or path.suffix in {".png", ".jpg", ".pdf", ".ico", ".woff2"} or not path.is_file():
            continue
        used |= set(re.findall(r"\bWARDLINK_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace")))
    known = {env_name(n) for n in FIELDS} | OTHER_VARIABLES
    unknown = sorted(v for v in used if v not in known and not v.startswith(OTHER_PREFIXES)
                     and not any(p.startswith(v + "_") for p in OTHER_PREFIXES))
    assert len(used) > 30 and not unknown, unknown
