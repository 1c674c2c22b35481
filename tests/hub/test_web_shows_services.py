"""Routes and templates show what the services return: no web module queries the database,
and no page restates which work-order states are frozen or when a service is overdue.

The domain rules these checks keep in one place: ``wardlink.hub.services.maintenance.workorder_common.FROZEN_STATES``
(closed or cancelled: nothing changes any more) and ``wardlink.hub.services.maintenance.pm_standing`` (due and
overdue, by the compliance window).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "hub" / "web"
SERVICES = WEB.parent / "services"
#: Session methods that run SQL.
QUERY_METHODS = frozenset({"execute", "scalar", "scalars", "query"})
#: SQLAlchemy names that build SQL.
SQL_BUILDERS = frozenset({"select", "insert", "update", "delete", "text", "func", "and_", "or_"})
#: The only module that says which work-order states are frozen.
FROZEN_HOME = SERVICES / "maintenance" / "workorder_common.py"


def _web_modules() -> list[Path]:
    return sorted(WEB.rglob("*.py"))


def web_queries(path: Path) -> list[str]:
    """Return where ``path`` builds or runs SQL itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"{path.name}:{node.lineno} imports sqlalchemy.{a.name}"
                      for a in node.names if a.name in SQL_BUILDERS]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in QUERY_METHODS):
            found.append(f"{path.name}:{node.lineno} calls .{node.func.attr}()")
    return found


def frozen_restatements(text: str) -> list[str]:
    """Return the places in ``text`` that list closed and cancelled together by hand."""
    pair = r"""["'](closed|cancelled)["']\s*,\s*["'](closed|cancelled)["']"""
    return [m.group(0) for m in re.finditer(pair, text) if m.group(1) != m.group(2)]


def test_no_web_module_queries_the_database():
    offending = [hit for path in _web_modules() for hit in web_queries(path)]
    assert not offending, "web modules must ask the services instead:\n" + "\n".join(offending)


def test_the_check_catches_a_query_in_a_route(tmp_path):
    route = tmp_path / "route.py"
    route.write_text("from sqlalchemy import select\n\ndef page(db):\n    return db().scalars(select(1))\n")
    assert web_queries(route) == ["route.py:1 imports sqlalchemy.select", "route.py:4 calls .scalars()"]


def test_closed_or_cancelled_is_said_once():
    sources = [p for p in (*SERVICES.rglob("*.py"), *_web_modules(), *WEB.rglob("*.html")) if p != FROZEN_HOME]
    offending = [f"{p.relative_to(WEB.parent)}: {hit}" for p in sources for hit in frozen_restatements(p.read_text())]
    assert not offending, "use FROZEN_STATES or workorders.is_frozen:\n" + "\n".join(offending)


@pytest.mark.parametrize("text", ["order.state not in ('closed', 'cancelled')", 'x in ("cancelled", "closed")'])
def test_the_check_catches_a_restated_frozen_set(text):
    assert frozen_restatements(text)


def test_no_web_module_judges_a_due_date():
    # "Overdue" is the compliance window's verdict (wardlink.hub.services.maintenance.pm_standing), never a
    # comparison of a due date with today in a route or template.
    pattern = re.compile(r"due_date\s*[<>]=?|[<>]=?\s*\w*\.?due_date")
    offending = [f"{p.name}: {m.group(0)}" for p in (*_web_modules(), *WEB.rglob("*.html"))
                 for m in pattern.finditer(p.read_text())]
    assert not offending, "\n".join(offending)
