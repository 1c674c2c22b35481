"""Push Wardlink's datasources, folder and dashboards to a running Grafana over its HTTP API.

The same files Grafana's own file provisioning reads are sent: the datasource YAML (with
``${VAR}`` expanded from the given settings, as Grafana expands its environment) and the
dashboard JSON. Every step is idempotent: a datasource is created or updated by uid, the
folder is created once, and a dashboard is written only when it differs from Grafana's copy,
so a second run changes nothing (and adds no dashboard versions).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Mapping

import yaml

from wardlink.provisioning.errors import SettingError
from wardlink.provisioning.grafana.api import GrafanaAPI
from wardlink.provisioning.grafana.boards import FOLDER_TITLE, FOLDER_UID, in_zone

INFLUX_FILES = {
    "1": "provisioning/datasources/wardlink-influxdb.yaml",
    "2": "variants/wardlink-influxdb-token.yaml",
}
POSTGRES_FILE = "provisioning/datasources/wardlink-postgres.yaml"
#: Settings a datasource cannot work without (the others may be empty, e.g. no InfluxDB auth).
REQUIRED = {"url": "url", "jsonData.dbName": "database", "jsonData.database": "database"}
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
#: Keys of a provisioning entry that the HTTP API takes as they are.
_API_KEYS = ("name", "uid", "type", "access", "url", "user", "database", "basicAuth", "basicAuthUser",
             "withCredentials", "isDefault", "jsonData", "secureJsonData")
#: Dashboard keys Grafana sets itself; ignored when comparing with its stored copy.
_VOLATILE = ("id", "version")


def expand(value, env: Mapping[str, str]):
    """Return ``value`` with ``${VAR}`` and ``$VAR`` replaced from ``env`` (missing = empty), as Grafana does."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)
    if isinstance(value, list):
        return [expand(v, env) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, env) for k, v in value.items()}
    return value


def load_datasources(path: str | os.PathLike, env: Mapping[str, str]) -> list[dict]:
    """Return the API bodies of the datasources in a provisioning file, settings expanded."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingError(f"grafana dir: {path} not found (give the project's grafana/ directory)") from None
    except yaml.YAMLError as exc:
        raise SettingError(f"{path}: not valid YAML: {exc}") from None
    bodies = []
    for n, entry in enumerate((document or {}).get("datasources") or []):
        body = {k: v for k, v in expand(entry, env).items() if k in _API_KEYS}
        for dotted, setting in REQUIRED.items():
            head, _, tail = dotted.partition(".")
            holder = body.get(head) if tail else body
            key = tail or head
            if isinstance(holder, dict) and key in holder and not str(holder[key]).strip():
                raw = entry.get(head, {}).get(key) if tail else entry.get(key)
                raise SettingError(f"{path.name}: datasources[{n}].{dotted}: empty; set the {setting} "
                                   f"({raw} has no value)")
        bodies.append(body)
    return bodies


def load_dashboards(directory: str | os.PathLike) -> list[dict]:
    """Return every dashboard JSON of ``directory``, sorted by file name."""
    directory = Path(directory)
    files = sorted(directory.glob("*.json"))
    if not files:
        raise SettingError(f"grafana dir: no dashboards in {directory}")
    boards = []
    for path in files:
        try:
            boards.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise SettingError(f"{path}: not valid JSON: {exc}") from None
    return boards


@dataclass
class PushReport:
    """What a push did, by object: created, updated, or left as it was."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Return one human-readable line per object."""
        return ([f"created   {x}" for x in self.created] + [f"updated   {x}" for x in self.updated]
                + [f"unchanged {x}" for x in self.unchanged])


class GrafanaPusher:
    """Apply datasources, the folder and dashboards through a :class:`GrafanaAPI`."""

    def __init__(self, api: GrafanaAPI) -> None:
        self.api = api

    def push_datasource(self, body: dict, report: PushReport) -> None:
        """Create the datasource, or update the one with the same uid."""
        uid = body["uid"]
        current = self.api.datasource(uid)
        if current is None:
            self.api.create_datasource(body)
            report.created.append(f"datasource {uid}")
            return
        # Secrets cannot be read back to compare, so an existing datasource is always written.
        self.api.update_datasource(current["id"], {**body, "id": current["id"]})
        report.updated.append(f"datasource {uid}")

    def push_folder(self, uid: str, title: str, report: PushReport) -> None:
        """Create the folder unless it exists; fix its title if it was renamed."""
        current = self.api.folder(uid)
        if current is None:
            self.api.create_folder(uid, title)
            report.created.append(f"folder {uid}")
        elif current.get("title") != title:
            self.api.rename_folder(uid, title, current.get("version"))
            report.updated.append(f"folder {uid}")
        else:
            report.unchanged.append(f"folder {uid}")

    def push_dashboard(self, board: dict, folder_uid: str, report: PushReport) -> None:
        """Write the dashboard into the folder unless Grafana already holds the same content."""
        uid = board.get("uid")
        if not uid:
            raise SettingError(f"dashboard {board.get('title')!r}: has no uid")
        current = self.api.dashboard(uid)
        wanted = {k: v for k, v in board.items() if k not in _VOLATILE}
        if current is not None:
            stored = {k: v for k, v in current.get("dashboard", {}).items() if k not in _VOLATILE}
            if stored == wanted and current.get("meta", {}).get("folderUid") == folder_uid:
                report.unchanged.append(f"dashboard {uid}")
                return
        self.api.save_dashboard({"dashboard": {**wanted, "id": None}, "folderUid": folder_uid, "overwrite": True,
                                 "message": "wardlink grafana push"})
        (report.created if current is None else report.updated).append(f"dashboard {uid}")

    def push(self, datasources: list[dict], dashboards: list[dict], *, folder_uid: str = FOLDER_UID,
             folder_title: str = FOLDER_TITLE) -> PushReport:
        """Apply everything, datasources first (dashboards refer to them by uid)."""
        report = PushReport()
        for body in datasources:
            self.push_datasource(body, report)
        self.push_folder(folder_uid, folder_title, report)
        for board in dashboards:
            self.push_dashboard(board, folder_uid, report)
        return report


def connect(url: str, token: str, *, timeout: float = 10.0) -> GrafanaAPI:
    """Return a client of the Grafana at ``url`` that authenticates with a service-account token."""
    return GrafanaAPI(url, token, timeout=timeout)


def default_grafana_dir() -> Path:
    """Return the installed ``wardlink.grafana`` files (the repository's grafana/ in a checkout)."""
    root = resources.files("wardlink.grafana")
    if not isinstance(root, Path):  # a zipped install: the files have no path of their own
        raise SettingError(f"grafana dir: the packaged files at {root} are not a directory; give --grafana-dir")
    return root


def push(url: str, token: str, *, grafana_dir: str | os.PathLike | None = None, influx_version: str = "1",
         settings: Mapping[str, str] | None = None, datasources: bool = True,
         timezone: str | None = None) -> PushReport:
    """Push the project's Grafana files to ``url``; ``settings`` fill the datasources' ``${VAR}``;
    ``timezone`` (the site's IANA zone) replaces the boards' browser zone."""
    if influx_version not in INFLUX_FILES:
        raise SettingError(f"influx version: must be one of {', '.join(INFLUX_FILES)}, got {influx_version!r}")
    grafana_dir = Path(grafana_dir) if grafana_dir else default_grafana_dir()
    sources: list[dict] = []
    if datasources:
        env = {**os.environ, **(settings or {})}
        for name in (INFLUX_FILES[influx_version], POSTGRES_FILE):
            sources += load_datasources(grafana_dir / name, env)
    boards = load_dashboards(grafana_dir / "dashboards")
    if timezone:
        boards = [in_zone(board, timezone) for board in boards]
    return GrafanaPusher(connect(url, token)).push(sources, boards)
