"""The systemd units pass `systemd-analyze verify` and keep their hardening.

`systemd-analyze verify` also checks that each ExecStart binary exists. The units name the
production virtualenv (/opt/wardlink/venv); render_unit() rewrites that prefix, so the test
points them at the virtualenv running the tests, whose `wardlink` and `wardlink-edge` are the
real console scripts. No stub executables, no --root tree.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from provisioning_support import need

from wardlink.provisioning.errors import SettingError
from wardlink.provisioning.units import GATEWAY_UNITS, HUB_UNITS, render_unit, unit_names, write_units

VENV = Path(sys.prefix)


def settings(text: str) -> dict[str, list[str]]:
    """Return key -> values of a unit file (keys may repeat)."""
    result: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            result.setdefault(key.strip(), []).append(value.strip())
    return result


def test_every_shipped_unit_is_listed():
    assert set(unit_names()) == set(GATEWAY_UNITS) | set(HUB_UNITS)


def test_systemd_analyze_verify_finds_nothing_to_complain_about(tmp_path):
    need("systemd-analyze", "systemd")
    assert (VENV / "bin" / "wardlink").exists() and (VENV / "bin" / "wardlink-edge").exists()
    write_units(tmp_path, unit_names(), venv=VENV)
    names = [n for n in unit_names() if "@" not in n] + ["wardlink-ingest@1.service"]
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    # verify exits 0 on unknown keys and bad values too, and only warns: any output is a finding.
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_verify_does_catch_a_missing_binary_and_a_misspelt_key(tmp_path):
    """Guard for the test above: the same call reports what it should."""
    need("systemd-analyze", "systemd")
    text = render_unit("wardlink-web.service", venv="/nonexistent/venv").replace("Restart=always", "Restrat=always")
    (tmp_path / "wardlink-web.service").write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", "wardlink-web.service"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert "/nonexistent/venv/bin/wardlink" in result.stderr and "Restrat" in result.stderr


def test_the_gateway_unit_is_a_watched_restarting_confined_service():
    unit = settings(render_unit("wardlink-edge.service"))
    assert unit["Type"] == ["notify"] and int(unit["WatchdogSec"][0]) > 0
    assert unit["Restart"] == ["always"] and unit["StartLimitIntervalSec"] == ["0"]
    assert unit["ProtectSystem"] == ["strict"] and unit["ReadWritePaths"] == ["/var/lib/wardlink-edge"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["User"] == ["wardlink"]
    assert {"gpio", "i2c", "dialout"} <= set(unit["SupplementaryGroups"][0].split())
    assert unit["CapabilityBoundingSet"] == [""]


@pytest.mark.parametrize("name", ["wardlink-ingest@.service", "wardlink-web.service", "wardlink-scheduler.service"])
def test_hub_units_write_only_their_data_directory(name):
    unit = settings(render_unit(name))
    assert unit["ProtectSystem"] == ["strict"] and unit["ReadWritePaths"] == ["/var/lib/wardlink"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["PrivateDevices"] == ["yes"]
    assert unit["Environment"] == ["WARDLINK_CONFIG=/etc/wardlink/hub.toml"]
    assert unit["Restart"] == ["always"]


def _exec_argv(name: str) -> list[str]:
    (line,) = settings(render_unit(name).replace("%i", "7"))["ExecStart"]
    return shlex.split(line)


@pytest.mark.parametrize("name", [
    "wardlink-ingest@.service",
    "wardlink-web.service",
    "wardlink-scheduler.service",
])
def test_hub_exec_lines_are_commands_the_wardlink_parser_accepts(name):
    from wardlink.hub.cli import build_parser

    argv = _exec_argv(name)
    assert argv[0] == "/opt/wardlink/venv/bin/wardlink"
    build_parser().parse_args(argv[1:])


def test_the_scheduler_gives_way_to_the_web_server_and_the_ingest_workers_for_the_cpu():
    """A storm of notices is made and mailed in the scheduler: while the CPU is contended the
    pages must go first, so its unit asks for a tenth of the share (CPUWeight between units,
    Nice where the CPU controller is off) and the web and ingest units keep the default."""
    scheduler = settings(render_unit("wardlink-scheduler.service"))
    assert scheduler["Nice"] == ["10"] and scheduler["CPUWeight"] == ["10"]
    for name in ("wardlink-web.service", "wardlink-ingest@.service"):
        unit = settings(render_unit(name))
        assert "Nice" not in unit and "CPUWeight" not in unit and "CPUQuota" not in unit, name


def test_the_gateway_exec_line_is_a_command_wardlink_edge_accepts():
    from wardlink.edge.cli import build_parser

    argv = _exec_argv("wardlink-edge.service")
    assert argv[0] == "/opt/wardlink/venv/bin/wardlink-edge"
    args = build_parser().parse_args(argv[1:])
    assert args.config == "/etc/wardlink/gateway.toml"


def test_each_ingest_instance_gets_its_own_client_id_in_one_share_group():
    argv = _exec_argv("wardlink-ingest@.service")
    assert argv[argv.index("--client-id") + 1] == "wardlink-ingest-7"
    assert argv[argv.index("--group") + 1] == "ingest"


def test_render_refuses_unknown_units_and_relative_prefixes():
    with pytest.raises(SettingError, match="unit: must be one of"):
        render_unit("nginx.service")
    with pytest.raises(SettingError, match="venv: must be an absolute path"):
        render_unit("wardlink-web.service", venv="venv")


def test_the_deployment_guides_enable_line_starts_every_hub_unit():
    """The guide's `systemctl enable --now` line once left out the scheduler: no silence alerts,
    notifications, PM generation or escalation on a hub set up as documented."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text(encoding="utf-8")
    [line] = [ln for ln in guide.splitlines() if ln.startswith("sudo systemctl enable --now wardlink-hub")]
    enabled = {word.split("@")[0] + ("@" if "@" in word else "") for word in shlex.split(line)[4:]}
    wanted = {name.removesuffix(".service").removesuffix("@") + ("@" if "@" in name else "")
              for name in HUB_UNITS}
    assert wanted <= enabled, f"the guide does not enable {sorted(wanted - enabled)}"
