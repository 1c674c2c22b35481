"""The ingest package stays in named parts: no module over 600 lines, no function over 80."""

import ast
from pathlib import Path

INGEST = Path(__file__).resolve().parents[2] / "hub" / "ingest"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def test_ingest_modules_and_functions_stay_short():
    long_modules, long_functions = [], []
    modules = sorted(INGEST.glob("*.py"))
    assert len(modules) > 5
    for path in modules:
        source = path.read_text()
        lines = source.count("\n") + 1
        if lines > MAX_MODULE_LINES:
            long_modules.append(f"{path.name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.name}:{node.lineno} {node.name}: {length} lines")
    assert long_modules == [] and long_functions == []


def test_the_worker_hands_listeners_a_typed_protocol_and_no_string_kinds():
    from wardlink.hub.ingest.items import IngestListener, Item, ItemKind

    assert {k.value for k in ItemKind} == {"telemetry", "events", "status", "dead", "ignored"}
    assert Item.__dataclass_fields__["kind"].type in ("ItemKind", ItemKind)
    worker_source = (INGEST / "pump.py").read_text()
    assert "getattr(" not in worker_source  # listeners are called through IngestListener

    class Partial:
        def on_points(self, points):
            pass

    assert not isinstance(Partial(), IngestListener)
