"""A fresh install from the command line: the installed ``wardlink`` program, run as a separate
process against a new SQLite database, adds a site and a department, and then
``wardlink gateway add ... --department ICU`` registers a gateway in it (the broker is a real
Mosquitto with the dynamic-security plugin). Expected failures print one line and exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.services.gateways import registry as gateways

WARDLINK = str(Path(sys.executable).with_name("wardlink"))


@pytest.fixture
def install(tmp_path):
    """A hub configuration naming a new SQLite database; returns (run, url)."""
    url = f"sqlite:///{tmp_path / 'wardlink.db'}"
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\ndata_dir = "{tmp_path}"\ndatabase_url = "{url}"\n'
                      'public_url = "https://wardlink.hospital.example"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDLINK_")}

    def run(*words: str) -> subprocess.CompletedProcess:
        return subprocess.run([WARDLINK, "--config", str(config), *words], capture_output=True, text=True,
                              timeout=120, env=env)
    return run, url


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if " INFO " not in line]
    assert len(lines) == 1, text  # one line, no traceback
    return lines[0]


@pytest.mark.timeout(300)
def test_a_fresh_install_adds_a_site_and_a_department_and_then_a_gateway_of_it(install, broker):
    run, url = install
    assert run("db", "upgrade").returncode == 0
    no_site = run("department", "add", "--site", "RGH", "--code", "ICU", "Intensive care")
    assert no_site.returncode == 2
    assert _last_line(no_site.stderr) == "wardlink: site 'RGH' does not exist (known: none yet)"

    site = run("site", "add", "Riverside General Hospital", "--timezone", "Europe/London")
    assert site.returncode == 0, site.stderr
    assert re.fullmatch(r"site (\d+) added: RGH 'Riverside General Hospital' \(Europe/London\)\n", site.stdout)
    dept = run("department", "add", "--site", "rgh", "--code", "ICU", "Intensive care")
    assert dept.returncode == 0, dept.stderr
    assert "added: ICU 'Intensive care' at RGH" in dept.stdout
    twice = run("department", "add", "--site", "RGH", "--code", "icu", "Critical care")
    assert twice.returncode == 2
    assert _last_line(twice.stderr) == ("wardlink: code: Riverside General Hospital already has department "
                                        "code 'ICU' (Intensive care)")
    bad_zone = run("site", "add", "Clinic", "--timezone", "Moon/Base")
    assert bad_zone.returncode == 2 and "timezone: 'Moon/Base' is not a known time zone" in bad_zone.stderr
    loc = run("location", "add", "--site", "RGH", "--department", "ICU", "--building", "Main block",
              "--floor", "2", "--room", "Bay 4")
    assert loc.returncode == 0 and "Main block / 2 / Bay 4 at RGH" in loc.stdout
    listed = run("department", "list")
    assert listed.returncode == 0
    assert re.search(r"^\d+\s+RGH\s+ICU\s+Intensive care$", listed.stdout, re.M), listed.stdout

    added = run("gateway", "add", "gw-icu-01", "--name", "ICU fridge room", "--department", "ICU",
                "--settings", str(broker.settings_file))
    assert added.returncode == 0, added.stderr
    assert re.search(r"^  wle_\S+$", added.stdout, re.M)
    engine = open_engine(url)
    try:
        with session_scope(engine, readonly=True) as s:
            gw = gateways.find_gateway(s, "gw-icu-01")
            assert (gw.name, gw.department.code, gw.department.site.timezone) == ("ICU fridge room", "ICU",
                                                                                   "Europe/London")
    finally:
        engine.dispose()
    in_use = run("department", "delete", "ICU")
    assert in_use.returncode == 2
    message = _last_line(in_use.stderr)
    assert message.startswith("wardlink: department 'Intensive care' is still used by ")
    assert "1 gateway" in message and "1 location" in message
