"""The mypy step of ./test.sh (.ci/typecheck) sees packages by their installed names: on a small
planted repository with the same package-dir mapping, a wrong type across the mapping is found
and reported at its repository path, and the corrected tree passes."""

from __future__ import annotations

import contextlib
import io
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_loader = SourceFileLoader("typecheck", str(ROOT / ".ci" / "typecheck"))
typecheck = module_from_spec(spec_from_loader("typecheck", _loader))
_loader.exec_module(typecheck)

PYPROJECT = """
[tool.setuptools]
package-dir = { "wardlink" = "wardlink", "wardlink.hub" = "hub" }

[tool.mypy]
files = ["hub/ingest"]
check_untyped_defs = true
"""


def plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def run(root: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = typecheck.main(list(args), root=root)
    return code, out.getvalue()


def test_installed_names_resolve_and_errors_name_repository_paths(tmp_path):
    plant(tmp_path, {
        "pyproject.toml": PYPROJECT,
        "wardlink/__init__.py": "",
        "wardlink/clock.py": "def now_ms() -> int:\n    return 0\n",
        "hub/__init__.py": "",
        "hub/db.py": "def name() -> str:\n    return 'x'\n",
        "hub/ingest/__init__.py": "",
        "hub/ingest/worker.py": (
            "from wardlink.clock import now_ms\n"
            "from wardlink.hub.db import name\n\n"
            "def f() -> int:\n    return now_ms() + name()\n"
        ),
    })
    code, out = run(tmp_path)
    assert code == 1
    assert 'hub/ingest/worker.py:5: error: Unsupported operand types for + ("int" and "str")' in out, out
    assert "import-not-found" not in out and "wardlink/hub/" not in out, out

    (tmp_path / "hub/db.py").write_text("def name() -> int:\n    return 1\n")
    code, out = run(tmp_path)
    assert (code, out.splitlines()[-1:]) == (0, ["Success: no issues found in 2 source files"]), out


def test_folders_on_the_command_line_replace_the_configured_list(tmp_path):
    plant(tmp_path, {
        "pyproject.toml": PYPROJECT,
        "wardlink/__init__.py": "",
        "hub/__init__.py": "",
        "hub/ingest/__init__.py": "",
        "hub/web.py": "x: int = 'not a number'\n",
    })
    assert run(tmp_path)[0] == 0
    code, out = run(tmp_path, "hub/web.py")
    assert code == 1 and "hub/web.py:1: error: Incompatible types in assignment" in out, out
