"""`sudo wardlink ...` finds the hub's configuration: /etc/wardlink/hub.toml when nothing names a file.

sudo's env_reset drops WARDLINK_CONFIG, so the command falls back to a fixed file. The tests
move that file into a temporary directory (the module constant ``DEFAULT_CONFIG_FILE``, set
before the command runs) so they need no /etc; the programs run with an environment like the
one sudo gives, with no WARDLINK_* variable at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wardlink.hub import config as hub_config
from wardlink.hub.config import find_config_file

#: Runs `wardlink ARGS` with the default file moved to argv[1].
AS_ROOT = """
import sys
from pathlib import Path
import wardlink.hub.config as config
config.DEFAULT_CONFIG_FILE = Path(sys.argv[1])
from wardlink.hub.cli import main
sys.exit(main(sys.argv[2:]))
"""


def sudo_env() -> dict[str, str]:
    """An environment as sudo's env_reset leaves it: no WARDLINK_* variable (and no virtualenv)."""
    keep = ("HOME", "LANG", "TERM")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env["PYTHONPATH"] = os.pathsep.join(sys.path)  # this checkout's packages, as the installed venv has them
    return env


def wardlink(default: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", AS_ROOT, str(default), *args], env=sudo_env(), cwd=default.parent.parent,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def default_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "etc" / "hub.toml"
    monkeypatch.setattr(hub_config, "DEFAULT_CONFIG_FILE", path)
    return path


def test_the_file_is_chosen_by_option_then_variable_then_the_default_when_it_exists(default_file, tmp_path):
    env = {"WARDLINK_CONFIG": str(tmp_path / "from-env.toml")}
    assert find_config_file("given.toml", env) == ("given.toml", "--config")
    assert find_config_file(None, env) == (str(tmp_path / "from-env.toml"), "WARDLINK_CONFIG")
    path, why = find_config_file(None, {})
    assert path is None and why == f"none: no --config, no WARDLINK_CONFIG and no {default_file}"
    default_file.parent.mkdir()
    default_file.write_text("[hub]\n")
    assert find_config_file(None, {}) == (str(default_file),
                                          "the default file; neither --config nor WARDLINK_CONFIG is given")
    assert find_config_file(None, {"WARDLINK_CONFIG": ""})[0] == str(default_file)


def test_the_shipped_default_is_etc_wardlink_hub_toml():
    assert hub_config.DEFAULT_CONFIG_FILE == Path("/etc/wardlink/hub.toml")


def test_in_a_sudo_environment_every_command_reads_the_default_file_and_config_show_names_it(tmp_path):
    default = tmp_path / "etc" / "hub.toml"
    default.parent.mkdir()
    default.write_text(f'[hub]\ndata_dir = "{tmp_path / "data"}"\nsite_name = "St Elsewhere"\n')
    shown = wardlink(default, "config", "show")
    assert shown.returncode == 0, shown.stderr
    first, *rest = shown.stdout.splitlines()
    assert first == f"# configuration file: {default} (the default file; neither --config nor WARDLINK_CONFIG is given)"
    assert 'site_name = "St Elsewhere"' in rest and f'data_dir = "{tmp_path / "data"}"' in rest
    # not only `config show`: a database command works on the file's store
    migrated = wardlink(default, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    assert (tmp_path / "data" / "wardlink.db").is_file()


def test_without_any_file_config_show_says_so_and_the_defaults_apply(tmp_path):
    shown = wardlink(tmp_path / "etc" / "hub.toml", "config", "show")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == (f"# configuration file: none: no --config, no WARDLINK_CONFIG and no "
                                            f"{tmp_path / 'etc' / 'hub.toml'}")
    assert 'site_name = "Wardlink"' in shown.stdout


def test_the_option_wins_over_the_default_file(tmp_path):
    default = tmp_path / "etc" / "hub.toml"
    default.parent.mkdir()
    default.write_text('[hub]\nsite_name = "From the default"\n')
    other = tmp_path / "other.toml"
    other.write_text('[hub]\nsite_name = "From the option"\n')
    shown = wardlink(default, "--config", str(other), "config", "show")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"# configuration file: {other} (--config)"
    assert 'site_name = "From the option"' in shown.stdout and "From the default" not in shown.stdout
