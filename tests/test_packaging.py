"""The installed shape: one import name, ``wardlink``, whatever the repository's folders are called."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

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


def test_the_wheel_installs_only_wardlink_and_its_commands_run(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=240)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("wardlink-*.whl")
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
