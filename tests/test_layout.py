"""The package dependency rules of docs/architecture.md, checked on every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: installed package -> the folder of the repository that holds it (pyproject's package-dir)
PACKAGE_DIRS = {
    "wardlink": "wardlink",
    "wardlink.hardware": "hardware",
    "wardlink.edge": "edge",
    "wardlink.hub": "hub",
    "wardlink.provisioning": "provisioning",
}
#: the old top-level names: importing one would load a second copy of a package
OLD_NAMES = {"hub", "edge", "hardware", "provisioning"}
#: package -> packages of ours it must never import
FORBIDDEN = {
    "wardlink": {"wardlink.hardware", "wardlink.edge", "wardlink.hub", "wardlink.provisioning"},
    "wardlink.hardware": {"wardlink.edge", "wardlink.hub", "wardlink.provisioning"},
    "wardlink.edge": {"wardlink.hub", "wardlink.provisioning"},
    "wardlink.hub": {"wardlink.edge", "wardlink.hardware", "wardlink.provisioning"},
    "wardlink.provisioning": {"wardlink.hardware"},
}


def root_of(module: str) -> str:
    """Return the installed package a module belongs to (``wardlink.hub.db`` -> ``wardlink.hub``;
    ``wardlink.protocol`` -> ``wardlink``, the shared core)."""
    for root in sorted(PACKAGE_DIRS, key=len, reverse=True):
        if module == root or module.startswith(root + "."):
            return root
    raise ValueError(module)


def imported_roots(path: Path) -> set[str]:
    """Return the first name of every module ``path`` imports (absolute imports only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def python_files():
    for folder in (*PACKAGE_DIRS.values(), "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield pytest.param(path, id=str(path.relative_to(ROOT)))


@pytest.mark.parametrize("path", list(python_files()))
def test_nothing_imports_a_package_by_its_folder_name(path):
    bad = imported_roots(path) & OLD_NAMES
    assert not bad, (f"{path.relative_to(ROOT)} imports {sorted(bad)}: the installed names are "
                     f"{', '.join('wardlink.' + n for n in sorted(bad))}")


def test_top_level_is_the_fixed_layout():
    expected = {"edge", "hub", "hardware", "provisioning", "grafana", "tests", "docs", "bench", ".ci",
                "wardlink"}
    # Hidden directories (tool caches, the virtualenv) and build output are not part of the layout.
    present = {p.name for p in ROOT.iterdir() if p.is_dir() and (not p.name.startswith(".") or p.name == ".ci")
               and p.name not in {"__pycache__", "build", "dist"} and not p.name.endswith(".egg-info")
               and not p.name.startswith("wardlink-")}
    assert expected <= present | {".ci"}
    assert present - expected == set(), f"unexpected top-level directories: {sorted(present - expected)}"


# ------------------------------------------------------------------ the hub's layers
#
# Every import between the hub's parts, lazy ones (inside functions, under TYPE_CHECKING)
# included, must be listed here. A part is a subpackage of hub/ (``db``, ``services``...) or a
# module at the top of hub/ (``config``, ``runtime``...). Read a row as "this part may import
# these parts"; a part may always import itself. docs/architecture.md draws the same map.

FOUNDATION = {"errors", "config", "i18n"}
#: part -> the other parts of the hub it may import
HUB_LAYERS: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    # the languages: catalogues, dates and numbers per locale (read by everything, like config)
    "i18n": frozenset(),
    "config": frozenset({"errors", "i18n"}),
    # the bottom: relational store (engine, sessions, every table's model, migrations) and
    # the telemetry stores; neither knows the other
    "db": frozenset(FOUNDATION),
    "telemetry": frozenset(FOUNDATION),
    # the domain services
    "services": frozenset(FOUNDATION | {"db", "telemetry"}),
    # the users of the services: none of them imports another, except the web UI driving the
    # people's side of an alert's life, which the rules engine owns
    "ingest": frozenset(FOUNDATION | {"db", "telemetry", "services"}),
    "rules": frozenset(FOUNDATION | {"db", "telemetry", "services"}),
    "notify": frozenset(FOUNDATION | {"db", "services"}),
    "scheduler": frozenset(FOUNDATION | {"db", "services"}),
    "web": frozenset(FOUNDATION | {"db", "telemetry", "services", "rules"}),
    "seed": frozenset(FOUNDATION | {"db", "services"}),
    # the process wiring and the command line, on top
    "runtime": frozenset(FOUNDATION | {"db", "telemetry", "services", "ingest", "rules", "notify"}),
    "demo": frozenset(FOUNDATION | {"db", "telemetry", "services", "ingest", "rules", "notify", "scheduler",
                                    "web", "seed", "runtime"}),
    "cli": frozenset(FOUNDATION | {"db", "telemetry", "services", "ingest", "rules", "notify", "scheduler",
                                   "web", "seed", "runtime", "demo"}),
}


def module_index(root: Path, dirs=PACKAGE_DIRS) -> dict[str, Path]:
    """Return installed module name -> file for every module of the folders ``dirs`` maps."""
    out = {}
    for package, folder in dirs.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package, *parts))] = path
    return out


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Return the modules of ours that module ``name`` imports anywhere in its text."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()

    def ours(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from hub import config`` imports the module hub.config
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            module = ours(target)
            if module is not None and module != name:
                found.add(module)
    return found


def import_graph(root: Path, dirs=PACKAGE_DIRS) -> dict[str, set[str]]:
    """Return module -> modules of ours it imports, for every module of the folders ``dirs`` maps."""
    known = module_index(root, dirs)
    graph = {}
    for name, path in known.items():
        # A module imports its parent packages by being imported; that is no edge of its own.
        graph[name] = {t for t in imports_of(name, path, known) if not name.startswith(t + ".")}
    return graph


def hub_part(module: str) -> str | None:
    """Return the layer table's part of a hub module (``wardlink.hub.db.models.rules`` -> ``db``).

    The modules of the command line beside ``hub/cli.py`` (``hub/cli_*.py``) are part ``cli``.
    """
    parts = module.split(".")
    if parts[:2] != ["wardlink", "hub"] or len(parts) < 3:
        return None
    return "cli" if parts[2].startswith("cli_") else parts[2]


def layer_violations(graph: dict[str, set[str]], layers=HUB_LAYERS) -> list[str]:
    """Return ``module -> module`` for every hub import the layer table does not allow."""
    out = []
    for source, targets in sorted(graph.items()):
        here = hub_part(source)
        if here is None and source == "wardlink.hub":
            here = "hub"
        for target in sorted(targets):
            there = hub_part(target)
            if root_of(source) != "wardlink.hub" or root_of(target) != "wardlink.hub" or here == there:
                continue
            if here not in layers or there not in layers or there not in layers[here]:
                out.append(f"{source} -> {target} ({here} may not import {there})")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return every strongly connected group of more than one node (an import cycle), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        # Tarjan's algorithm, iterative: (node, iterator over its successors)
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return sorted(found)


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Return the graph between packages: a module belongs to the package that holds it, one
    level below its installed root (``wardlink.hub.db.models.rules`` to ``wardlink.hub.db``,
    ``wardlink.hub.cli`` to ``wardlink.hub``, ``wardlink.protocol`` to ``wardlink``); imports inside
    a package, and between a package and the packages it holds, are left out."""
    packages = {m for m in graph if any(o.startswith(m + ".") for o in graph)}

    def package_of(module: str) -> str:
        root = root_of(module)
        rest = module[len(root) + 1:].split(".") if module != root else []
        inner = f"{root}.{rest[0]}" if len(rest) > 1 else ""
        return inner if inner in packages and root_of(inner) == root else root

    out: dict[str, set[str]] = {}
    for source, targets in graph.items():
        a = package_of(source)
        out.setdefault(a, set())
        for target in targets:
            b = package_of(target)
            nested = root_of(a) == root_of(b) and (a.startswith(b + ".") or b.startswith(a + "."))
            if a != b and not nested:
                out[a].add(b)
    return out


GRAPH = import_graph(ROOT)


def test_each_package_imports_only_what_it_may():
    bad = [f"{source} -> {target}" for source, targets in sorted(GRAPH.items()) for target in sorted(targets)
           if root_of(target) in FORBIDDEN[root_of(source)]]
    assert not bad, "imports across packages that docs/architecture.md forbids:\n" + "\n".join(bad)


def test_the_layer_table_is_itself_layered():
    assert cycles({part: set(allowed) for part, allowed in HUB_LAYERS.items()}) == []
    assert all(allowed <= set(HUB_LAYERS) for allowed in HUB_LAYERS.values())


def test_every_part_of_the_hub_has_a_row():
    parts = {hub_part(m) for m in GRAPH if hub_part(m)}
    assert parts - set(HUB_LAYERS) == set(), "add a row to HUB_LAYERS (and docs/architecture.md)"


def test_the_hub_imports_only_what_its_layers_allow():
    bad = layer_violations(GRAPH)
    assert not bad, "imports the layer table does not allow:\n" + "\n".join(bad)


def test_no_import_cycle_anywhere():
    assert cycles(GRAPH) == [], "modules that import each other"
    assert cycles(package_graph(GRAPH)) == [], "packages that import each other"


def test_the_checks_catch_a_wrong_import_and_a_cycle(tmp_path):
    files = {
        "hub/__init__.py": "",
        "hub/errors.py": "",
        "hub/db/__init__.py": "",
        # a lazy import of a higher layer, inside a function
        "hub/db/engine.py": "def f():\n    from wardlink.hub.web.pages import view\n    return view\n",
        "hub/web/__init__.py": "",
        "hub/web/pages.py": "from wardlink.hub.errors import *\nfrom . import forms\nview = 1\n",
        # a two-module cycle, one side relative and under TYPE_CHECKING
        "hub/web/forms.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .pages import view\n",
        # a package cycle without a module cycle: services.a -> ingest.b, ingest.c -> services.d
        "hub/services/__init__.py": "",
        "hub/services/a.py": "import wardlink.hub.ingest.b\n",
        "hub/services/d.py": "",
        "hub/ingest/__init__.py": "",
        "hub/ingest/b.py": "",
        "hub/ingest/c.py": "from wardlink.hub.services import d\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path, {"wardlink.hub": "hub"})

    assert layer_violations(graph) == [
        "wardlink.hub.db.engine -> wardlink.hub.web.pages (db may not import web)",
        "wardlink.hub.services.a -> wardlink.hub.ingest.b (services may not import ingest)",
    ]
    assert cycles(graph) == [["wardlink.hub.web.forms", "wardlink.hub.web.pages"]]
    assert cycles(package_graph(graph)) == [["wardlink.hub.ingest", "wardlink.hub.services"]]
    # and the real tree's checks use the same functions
    assert graph["wardlink.hub.web.pages"] == {"wardlink.hub.errors", "wardlink.hub.web.forms"}
