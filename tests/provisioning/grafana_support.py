"""Grafana's template interpolation, as far as the Wardlink boards use it, for running their queries.

Grafana itself cannot run on a CI machine, so the tests expand macros and variables the way it
does before sending a query: InfluxQL gets ``$timeFilter``/``$__interval``/``$__range_s`` and
multi-value variables as an escaped regex group ``(a|b)``; SQL gets ``$__timeFilter(col)`` and
multi-value variables as a quoted list ``'a','b'``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import yaml

GRAFANA_DIR = Path(__file__).resolve().parents[2] / "grafana"
VAR_REF = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
#: Grafana's global variables and macros, by the datasource type that expands them.
BUILTINS = {
    "influxdb": {"timeFilter", "__interval", "__interval_ms", "__range_s", "__range", "__from", "__to"},
    "postgres": {"__timeFilter", "__timeFrom", "__timeTo", "__interval", "__range_s", "__from", "__to"},
}
#: Placeholders that only panel aliases (not queries) use.
ALIAS_ONLY = {"m", "col"}


def boards() -> dict[str, dict]:
    """Return the committed dashboards by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA_DIR / "dashboards").glob("*.json"))}


def datasource_uids(*folders: str) -> dict[str, str]:
    """Return uid -> type of every datasource in the YAML files of ``folders`` (under grafana/)."""
    found = {}
    for folder in folders:
        for path in sorted((GRAFANA_DIR / folder).glob("*.yaml")):
            for entry in yaml.safe_load(path.read_text())["datasources"]:
                found[entry["uid"]] = entry["type"]
    return found


def queries(board: dict):
    """Yield (panel title, datasource type, query text) for every target of every panel."""
    for panel in board["panels"]:
        for target in panel["targets"]:
            kind = target["datasource"]["type"]
            text = target.get("query") if kind == "influxdb" else target.get("rawSql")
            yield panel["title"], kind, text


def referenced(text: str) -> set[str]:
    """Return the variable names a query refers to."""
    return {a or b or c for a, b, c in VAR_REF.findall(text)}


def _regex(values: list[str]) -> str:
    escaped = [re.sub(r"([\\/^$.|?*+()\[\]{}-])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _sql_list(values: list[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def interpolate(text: str, kind: str, values: dict[str, list[str]], *, start: datetime, end: datetime,
                interval: str = "5m") -> str:
    """Return ``text`` as Grafana would send it to a datasource of ``kind``."""
    range_s = int((end - start).total_seconds())
    if kind == "influxdb":
        start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        text = text.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    else:
        text = re.sub(r"\$__timeFilter\((\w+(?:\.\w+)?)\)",
                      lambda m: f"{m.group(1)} BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'", text)
        text = text.replace("$__timeFrom()", f"'{start.isoformat()}'").replace("$__timeTo()", f"'{end.isoformat()}'")
    text = text.replace("$__interval", interval).replace("$__range_s", str(range_s))
    for name in sorted(values, key=len, reverse=True):
        vals = values[name]
        if kind == "influxdb":
            # Regex contexts (/^$x$/) get an escaped group; elsewhere (a number, a time zone) the raw value.
            text = re.sub(rf"/\^\${name}\$/", lambda m, v=vals: f"/^{_regex(v)}$/", text)
            text = text.replace(f"${name}", vals[0])
        else:
            text = text.replace(f"${name}", _sql_list(vals))
    return text
