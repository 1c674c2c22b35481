"""One version, set in pyproject.toml and read from the installed metadata; the licence and
the changelog that go with it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]


def test_the_installed_metadata_carries_the_pyproject_version():
    import wardlink
    import wardlink.edge
    from wardlink.edge.version import __version__ as edge_version

    assert version("wardlink") == VERSION, "reinstall (./test.sh does) after changing pyproject.toml"
    assert wardlink.__version__ == wardlink.edge.__version__ == edge_version == VERSION


@pytest.mark.parametrize("prog, module", [("wardlink", "wardlink.hub.cli"), ("wardlink-edge", "wardlink.edge.cli")])
def test_version_option_prints_the_metadata_version(prog, module):
    out = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{prog} {version('wardlink')}"


def test_no_module_sets_a_version_of_its_own():
    """Only wardlink/__init__.py assigns __version__ (from the metadata); the rest import it."""
    setters = []
    for folder in ("wardlink", "hub", "edge", "hardware", "provisioning"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
                    setters.append(str(path.relative_to(ROOT)))
    assert sorted(set(setters)) == ["wardlink/__init__.py"]


def test_the_changelog_has_an_entry_for_this_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert re.search(rf"^## \[{re.escape(VERSION)}\] - \d{{4}}-\d\d-\d\d$", text, re.M), \
        f"CHANGELOG.md has no '## [{VERSION}] - YYYY-MM-DD' section"


def test_the_licence_file_is_the_apache_2_text_pyproject_declares():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) > 170
