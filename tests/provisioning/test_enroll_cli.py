"""`wardlink gateway add|token|disable|enable|revoke` against a hub database and a Mosquitto with
the dynamic-security plugin. The commands run through ``wardlink``'s own entry point in this
process (the end-to-end test runs one as a separate program)."""

from __future__ import annotations

import re

import pytest
from dataclasses import dataclass

from wardlink.hub.cli import main

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.services.gateways import enrollment
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.people import org


@dataclass
class Result:
    """What a command printed and returned."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def wardlink(capsys):
    """Run the ``wardlink`` command line with the given words."""
    def run(*argv: str) -> Result:
        code = main(list(argv))
        out = capsys.readouterr()
        return Result(code, out.out, out.err)
    return run


@pytest.fixture
def hub_config(tmp_path):
    """A migrated hub database with an ICU department, and the config file naming it."""
    url = f"sqlite:///{tmp_path / 'wardlink.hub.db'}"
    upgrade(url)
    engine = open_engine(url)
    with session_scope(engine) as s:
        site = org.ensure_site(s, code="MAIN", name="Main hospital", actor=None)
        org.ensure_department(s, site, code="ICU", name="Intensive care", actor=None)
    engine.dispose()
    path = tmp_path / "hub.toml"
    path.write_text(f'[hub]\ndata_dir = "{tmp_path}"\ndatabase_url = "{url}"\n'
                    'public_url = "https://wardlink.hospital.example"\n')
    return path, url


def _gateway(url: str, gateway_id: str):
    engine = open_engine(url)
    try:
        with session_scope(engine) as s:
            gw = gateways.find_gateway(s, gateway_id)
            return None if gw is None else (gw.name, gw.department.code if gw.department else None, gw.enabled,
                                            len(enrollment.tokens_of(s, gateway_id, actor=None)))
    finally:
        engine.dispose()


@pytest.mark.timeout(120)
def test_add_disable_enable_revoke_change_the_hub_and_the_broker_together(hub_config, broker, wardlink):
    config, url = hub_config
    settings = ["--settings", str(broker.settings_file)]
    out = wardlink("--config", str(config), "gateway", "add", "gw-icu-11", "--name", "ICU fridge room",
                   "--department", "icu", "--ttl-hours", "2", *settings)  # a code in any case
    assert out.returncode == 0, out.stderr
    token = re.search(r"^  (wle_\S+)$", out.stdout, re.M).group(1)
    assert f"sudo wardlink-edge enroll https://wardlink.hospital.example {token} --owner wardlink" in out.stdout
    assert _gateway(url, "gw-icu-11") == ("ICU fridge room", "ICU", True, 1)
    assert broker.logins()["gw-icu-11"].enabled is False

    again = wardlink("--config", str(config), "gateway", "add", "gw-icu-11", *settings)
    assert again.returncode == 2 and "gateway 'gw-icu-11' exists; issue a new enrollment token" in again.stderr

    # The login must exist and be on for `disable` to show: enrollment would switch it on.
    broker.accounts().issue_gateway("gw-icu-11")
    out = wardlink("--config", str(config), "gateway", "disable", "gw-icu-11", *settings)
    assert out.returncode == 0 and "disabled" in out.stdout
    assert broker.logins()["gw-icu-11"].enabled is False and _gateway(url, "gw-icu-11")[2] is False
    out = wardlink("--config", str(config), "gateway", "enable", "gw-icu-11", *settings)
    assert out.returncode == 0 and "its broker login is on again" in out.stdout
    assert broker.logins()["gw-icu-11"].enabled is True

    out = wardlink("--config", str(config), "gateway", "revoke", "gw-icu-11", *settings)
    assert out.returncode == 0 and "its broker login was deleted" in out.stdout
    assert "gw-icu-11" not in broker.logins() and _gateway(url, "gw-icu-11")[2] is False
    refused = wardlink("--config", str(config), "gateway", "token", "gw-icu-11")
    assert refused.returncode == 2 and "is disabled; enable it first" in refused.stderr
    out = wardlink("--config", str(config), "gateway", "enable", "gw-icu-11", *settings)
    assert out.returncode == 0 and "has no broker login" in out.stdout
    out = wardlink("--config", str(config), "gateway", "token", "gw-icu-11")
    assert out.returncode == 0 and re.search(r"^  wle_\S+$", out.stdout, re.M)
    assert _gateway(url, "gw-icu-11")[3] == 2


@pytest.mark.parametrize("extra, message", [
    (["--department", "NOPE"], "department: no department with code 'NOPE'; known: ICU"),
    (["--ttl-hours", "200"], "ttl: must be between"),
    (["--initial-config", "/nonexistent/initial.toml"], "initial config: cannot read /nonexistent/initial.toml"),
])
def test_add_refuses_bad_options_and_creates_nothing(hub_config, broker, wardlink, extra, message):
    config, url = hub_config
    out = wardlink("--config", str(config), "gateway", "add", "gw-bad-01", "--settings", str(broker.settings_file),
                   *extra)
    assert out.returncode == 2 and message in out.stderr
    assert _gateway(url, "gw-bad-01") is None and "gw-bad-01" not in broker.logins()


def test_a_missing_settings_file_is_named(hub_config, tmp_path, wardlink):
    config, _ = hub_config
    out = wardlink("--config", str(config), "gateway", "add", "gw-x-01", "--settings", str(tmp_path / "none.toml"))
    assert out.returncode == 2 and f"enrollment settings: cannot read {tmp_path / 'none.toml'}" in out.stderr
