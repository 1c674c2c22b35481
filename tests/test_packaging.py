"""The installed shape: one import name, ``wardlink``, whatever the repository's folders are called."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def folder_packages() -> set[str]:
    """Every package the repository holds, by the name it installs under."""
    dirs = PYPROJECT["tool"]["setuptools"]["package-dir"]
    out = set()
    for package, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            out.add(".".join((package, *init.parent.relative_to(ROOT / folder).parts)))
    return out


def test_every_package_folder_is_listed_for_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert folder_packages() - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - folder_packages() == set(), "pyproject.toml lists packages that have no folder"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built once for the module."""
    dist = tmp_path_factory.mktemp("dist")
    # setuptools builds in the checkout's build/ (ignored by git) and keeps what it copied there
    # before: a file deleted or renamed since (a renumbered migration) would ride along.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=240)
    assert built.returncode == 0, built.stderr
    (found,) = dist.glob("wardlink-*.whl")
    return found


def test_the_wheel_installs_only_wardlink_and_its_commands_run(tmp_path, wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith((".dist-info", ".data"))} == {"wardlink"}
    for needed in ("wardlink/hub/web/templates/base.html", "wardlink/hub/db/migrations/script.py.mako",
                   "wardlink/hub/db/migrations/versions/", "wardlink/schema/", "wardlink/provisioning/pi/",
                   "wardlink/provisioning/systemd/wardlink-edge.service", "wardlink/hardware/i2c/sht3x.py"):
        assert any(n.startswith(needed) for n in names), f"{needed} is missing from the wheel"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel lacks the licence"

    # A fresh environment: the wheel itself, with the third-party libraries of this one on its path
    # (a .pth entry: this environment's own .pth files, the editable install among them, stay out).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                                "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True, timeout=240)
    assert installed.returncode == 0, installed.stderr

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = dict(cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    where = subprocess.run([str(python), "-c", "import wardlink.hub.web, wardlink.edge.cli; "
                            "print(wardlink.hub.web.__file__)"], **run)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(purelib), where.stdout
    for old in ("hub", "edge", "hardware", "provisioning"):
        probe = subprocess.run([str(python), "-c", f"import {old}"], **run)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, f"{old} is importable"
    for command, words in (("wardlink", "Wardlink hub"), ("wardlink-edge", "gateway")):
        shown = subprocess.run([str(venv / "bin" / command), "--help"], **run)
        assert shown.returncode == 0, shown.stderr
        assert words in shown.stdout
        said = subprocess.run([str(venv / "bin" / command), "--version"], **run)
        assert said.stdout.strip() == f"{command} {PYPROJECT['project']['version']}", said.stderr


def test_the_constraints_pin_every_package_of_the_test_environment():
    """./test.sh installs with `-c provisioning/constraints.txt`; a dependency added to pyproject.toml
    installs unpinned until the file is made again."""
    checked = subprocess.run([sys.executable, str(ROOT / ".ci" / "constraints"), "check"],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, f"run `.ci/constraints update`; not pinned as installed:\n{checked.stdout}"


#: Files in the package folders that are not package data, each with its reason.
NOT_SHIPPED = {
    "provisioning/constraints.txt": "read before the install (pip -c), from the release's source",
}


def test_every_file_the_package_folders_hold_is_in_the_wheel(wheel):
    """Templates, static files, migrations, schemas, units, Grafana's files: whatever a command reads."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = []
    for package, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        for path in (ROOT / folder).rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            if (path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc"
                    or relative in NOT_SHIPPED):
                continue
            inside = "/".join((*package.split("."), *path.relative_to(ROOT / folder).parts))
            if inside not in names:
                missing.append(relative)
    assert missing == [], "add these to [tool.setuptools.package-data] in pyproject.toml"
    assert "wardlink/grafana/dashboards/wardlink-cold-chain.json" in names


def requirements(wheel: Path) -> dict[str, set[str]]:
    """Return {extra ("" for the base): names of the distributions it requires} from the wheel's metadata."""
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(meta).decode()
    out: dict[str, set[str]] = {}
    for extra in re.findall(r"^Provides-Extra: (\S+)$", text, re.M):
        out[extra] = set()
    for spec in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
        name = re.split(r"[\s\[<>=!~;(]", spec, maxsplit=1)[0].lower()
        extra = re.search(r"extra == ['\"](\w+)['\"]", spec)
        out.setdefault(extra.group(1) if extra else "", set()).add(name)
    return out


def test_extras_keep_each_install_lean(wheel):
    needs = requirements(wheel)
    assert set(needs) == {"", "edge", "hub", "demo", "grafana", "test"}
    assert needs[""] == {"paho-mqtt"}, "the base install is what every install needs: the core's MQTT adapter"
    assert "amqtt" in needs["demo"] and all("amqtt" not in v for k, v in needs.items() if k != "demo")
    assert "jsonschema" in needs["hub"] and "jsonschema" not in needs["edge"] | needs[""]
    assert needs["grafana"] == {"wardlink"}, "grafana is an alias of the hub install: it needs nothing more"
    everything = set().union(*needs.values())
    assert everything.isdisjoint({"grafana-client", "niquests", "urllib3-future", "sqlite-utils"})
    assert needs["hub"].isdisjoint({"gpiozero", "smbus2", "bleak", "pyserial", "pytest"})


#: Distributions a hub must not carry: the demo broker and what it brings, the dropped Grafana
#: client and its urllib3 replacement, the gateway's bus libraries, the test tools.
NOT_IN_A_HUB = {"amqtt", "pydantic", "typer", "rich", "psutil", "transitions", "grafana-client", "niquests",
                "urllib3-future", "sqlite-utils", "gpiozero", "smbus2", "bleak", "pyserial", "pytest"}
#: Run inside the installed hub: the web UI renders a page and serves a static file from the
#: package data, the systemd units are found, and the demo says which extra it lacks.
INSIDE_THE_HUB = """
import sys
from wardlink.hub.config import load_config
from wardlink.hub.web.app import create_app
from wardlink.provisioning.units import render_unit
client = create_app(load_config(sys.argv[1])).test_client()
page, css = client.get("/login"), client.get("/static/wardlink.css")
assert page.status_code == 200 and b'name="password"' in page.data, page.status_code
assert css.status_code == 200 and len(css.data) > 100, css.status_code
assert "/srv/venv/bin/wardlink" in render_unit("wardlink-web.service", venv="/srv/venv")
from wardlink.hub.demo import DemoError, broker_class
try:
    broker_class()
except DemoError as exc:
    print(exc)
"""


def test_the_hub_extra_installs_lean_into_a_fresh_virtualenv_and_finds_its_files(tmp_path, wheel):
    """`pip install -c provisioning/constraints.txt 'wardlink[hub]'` as docs/deployment.md says (offline,
    from this environment's distributions: tests/wheelhouse.py), then the installed commands, run
    outside the source tree, find what they read from the package."""
    import wheelhouse
    from fake_grafana import TOKEN, serve

    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    wheelhouse.build(re.findall(r"^Requires-Dist: (.+)$", meta, re.M), {"hub"}, "wardlink", tmp_path / "wheels")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python, wardlink = venv / "bin" / "python", str(venv / "bin" / "wardlink")
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                                "--no-compile", "--no-index", "--find-links", str(tmp_path / "wheels"),
                                "-c", str(ROOT / "provisioning" / "constraints.txt"), f"{wheel}[hub]"],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "WARDLINK_CONFIG")}
    run = dict(cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    # No package replaced another's files: urllib3 is the release pip installed.
    probe = subprocess.run([str(python), "-c", "import urllib3, importlib.metadata as m; "
                            "print(urllib3.__version__, m.version('urllib3'))"], **run)
    imported, listed = probe.stdout.split()
    assert imported == listed, f"import urllib3 gives {imported}, pip installed {listed}"
    names = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                            "print('\\n'.join(d.metadata['Name'].lower() for d in m.distributions()))"], **run)
    assert set(names.stdout.split()) & NOT_IN_A_HUB == set()
    pinned = subprocess.run([str(python), str(ROOT / ".ci" / "constraints"), "check"], **run)
    assert pinned.returncode == 0, f"installed but not pinned as installed:\n{pinned.stdout}"

    # docs/deployment.md links the command onto sudo's secure_path; through the link it runs in its venv
    (tmp_path / "usr-local-bin").mkdir()
    (tmp_path / "usr-local-bin" / "wardlink").symlink_to(wardlink)
    said = subprocess.run(["wardlink", "--version"], **{**run, "env": {**env, "PATH": f"{tmp_path}/usr-local-bin:/usr/bin:/bin"}})
    assert said.stdout.strip() == f"wardlink {PYPROJECT['project']['version']}", said.stderr
    (tmp_path / "hub.toml").write_text(f'[hub]\ndata_dir = "{tmp_path / "data"}"\n')
    migrated = subprocess.run([wardlink, "--config", str(tmp_path / "hub.toml"), "db", "upgrade"], **run)
    assert migrated.returncode == 0, migrated.stderr
    inside = subprocess.run([str(python), "-c", INSIDE_THE_HUB, str(tmp_path / "hub.toml")], **run)
    assert inside.returncode == 0, inside.stderr
    assert "pip install 'wardlink[demo]'" in inside.stdout

    # grafana push reads the datasource YAML and dashboard JSON from the package data
    (tmp_path / "token").write_text(TOKEN)
    with serve() as (url, state):
        pushed = subprocess.run([wardlink, "grafana", "push", "--url", url, "--token-file", "token",
                                 "--influx-url", "http://influx:8086", "--influx-database", "wardlink",
                                 "--postgres-host", "db:5432", "--postgres-database", "wardlink",
                                 "--postgres-user", "grafana_reader"], **run)
    assert pushed.returncode == 0, pushed.stderr
    assert sorted(state["dashboards"]) == sorted(p.stem for p in (ROOT / "grafana" / "dashboards").glob("*.json"))
    assert {d["uid"] for d in state["datasources"].values()} == {"wardlink-influxdb", "wardlink-postgres"}
