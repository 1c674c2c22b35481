"""provisioning/pi/setup-gateway.sh: shellcheck-clean, and a dry run that changes nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from provisioning_support import need

from wardlink import provisioning

SCRIPT = Path(provisioning.__file__).parent / "pi" / "setup-gateway.sh"
#: Places a real run would change on this machine; a dry run must leave each as it was.
TOUCHED = ["/opt/wardlink", "/var/lib/wardlink-edge", "/etc/wardlink", "/etc/systemd/system/wardlink-edge.service",
           "/etc/systemd/journald.conf.d/wardlink.conf", "/etc/modules-load.d/wardlink.conf"]


def snapshot():
    return {p: (os.path.exists(p), os.path.getmtime(p) if os.path.exists(p) else None) for p in TOUCHED}


def run(*args, env=None):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def users_and_groups():
    return Path("/etc/passwd").read_text(), Path("/etc/group").read_text()


def test_shellcheck_finds_nothing():
    result = subprocess.run([need("shellcheck", "shellcheck"), "--severity=style", str(SCRIPT)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_the_dry_run_prints_every_action_and_changes_nothing(tmp_path):
    boot = tmp_path / "config.txt"
    boot.write_text("# firmware settings\narm_64bit=1\n")
    before, accounts = snapshot(), users_and_groups()
    result = run("--dry-run", "--boot-config", str(boot))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("+ append dtparam=i2c_arm=on to ", "+ append dtoverlay=w1-gpio to ", "+ append enable_uart=1 to ",
                     "+ python3 -m venv --system-site-packages /opt/wardlink/venv",
                     "+ /opt/wardlink/venv/bin/pip install --upgrade --upgrade-strategy only-if-needed -c "
                     f"{SCRIPT.parent.parent / 'constraints.txt'} wardlink\\[edge\\]",
                     "+ write /etc/systemd/system/wardlink-edge.service (mode 0644):",
                     "    | ExecStart=/opt/wardlink/venv/bin/wardlink-edge run --config /etc/wardlink/gateway.toml",
                     "+ write /etc/systemd/journald.conf.d/wardlink.conf (mode 0644):",
                     "+ systemctl enable wardlink-edge.service"):
        assert expected in out, expected
    if "wardlink:" not in accounts[0]:
        assert "+ useradd --system --user-group --home-dir /var/lib/wardlink-edge" in out
        assert "+ usermod --append --groups " in out
    # Nothing changed: files, directories, accounts, the boot config.
    assert snapshot() == before and users_and_groups() == accounts
    assert boot.read_text() == "# firmware settings\narm_64bit=1\n"


def test_lines_already_in_the_boot_config_are_left_alone(tmp_path):
    boot = tmp_path / "config.txt"
    boot.write_text("dtparam=i2c_arm=on\ndtoverlay=w1-gpio\nenable_uart=1\n")
    out = run("--dry-run", "--boot-config", str(boot)).stdout
    assert "+ append" not in out
    assert f"ok: {boot} has 'dtoverlay=w1-gpio'" in out


def test_with_raspi_config_present_the_dry_run_only_names_its_calls(tmp_path):
    """A raspi-config that would leave a mark if run: the dry run must not call it."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    marker = tmp_path / "raspi-config-ran"
    fake = bindir / "raspi-config"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    result = run("--dry-run", env={"PATH": f"{bindir}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    for call in ("do_i2c 0", "do_onewire 0", "do_serial_hw 0", "do_serial_cons 1"):
        assert f"+ raspi-config nonint {call}" in result.stdout
    assert not marker.exists()


def test_another_venv_is_written_into_the_unit(tmp_path):
    out = run("--dry-run", "--venv", "/srv/wl/venv", "--boot-config", str(tmp_path / "c.txt")).stdout
    assert "    | ExecStart=/srv/wl/venv/bin/wardlink-edge run" in out


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option: --bogus"),
    (["--dry-run", "--venv", "relative/venv"], "--venv must be an absolute path"),
    (["--dry-run", "--unit", "/nonexistent.service"], "systemd unit not found"),
    (["--dry-run", "--constraints", "/nonexistent.txt"], "constraints file not found"),
])
def test_bad_options_stop_before_doing_anything(args, message):
    result = run(*args)
    assert result.returncode == 1 and message in result.stderr


def test_help_lists_the_options():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--dry-run", "--venv", "--package", "--constraints", "--boot-config", "--unit"):
        assert option in result.stdout
