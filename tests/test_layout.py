"""The package dependency rules of docs/architecture.md, checked on every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("wardlink", "hardware", "edge", "hub", "provisioning")
#: package -> packages of ours it must never import
FORBIDDEN = {
    "wardlink": {"hardware", "edge", "hub", "provisioning"},
    "hardware": {"edge", "hub", "provisioning"},
    "edge": {"hub", "provisioning"},
    "hub": {"edge", "hardware", "provisioning"},
    "provisioning": {"hardware"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield pytest.param(package, path, id=str(path.relative_to(ROOT)))


@pytest.mark.parametrize("package, path", list(modules()))
def test_module_imports_only_what_its_package_may(package, path):
    bad = imported_roots(path) & FORBIDDEN[package]
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}, which {package} must not"


def test_top_level_is_the_fixed_layout():
    expected = {"edge", "hub", "hardware", "provisioning", "grafana", "tests", "docs", "bench", ".ci",
                "wardlink"}
    # Hidden directories (tool caches, the virtualenv) and build output are not part of the layout.
    present = {p.name for p in ROOT.iterdir() if p.is_dir() and (not p.name.startswith(".") or p.name == ".ci")
               and p.name not in {"__pycache__", "build", "dist"} and not p.name.endswith(".egg-info")
               and not p.name.startswith("wardlink-")}
    assert expected <= present | {".ci"}
    assert present - expected == set(), f"unexpected top-level directories: {sorted(present - expected)}"
