"""The few calls of Grafana's HTTP API that the push makes, over ``requests``.

The hub already depends on ``requests`` (the InfluxDB write path), so talking to Grafana adds
no library to its environment. Every call authenticates with a service-account token
(``Authorization: Bearer ...``); an answer of 400 or more raises :class:`GrafanaError` with
Grafana's own message, and a 404 can be asked to mean "not there" instead.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import requests

from wardlink.provisioning.errors import GrafanaError, SettingError

class GrafanaAPI:
    """A client of one Grafana server: its datasources, folders and dashboards."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0,
                 session: requests.Session | None = None) -> None:
        if not re.match(r"^https?://", url or ""):
            raise SettingError(f"url: must be http(s)://host[:port][/path], got {url!r}")
        if not token:
            raise SettingError("token: required (a Grafana service-account token with Editor or Admin role)")
        self.base = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def call(self, what: str, method: str, path: str, body: dict | None = None, *, missing_ok: bool = False):
        """Send one request; return its JSON answer, or None for a 404 when ``missing_ok``.

        ``what`` says what the call is for, in the error a refusal or an unreachable server raises.
        """
        try:
            answer = self.session.request(method, self.base + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise GrafanaError(f"cannot reach Grafana to {what}: {exc}") from None
        if answer.status_code == 404 and missing_ok:
            return None
        if answer.status_code >= 400:
            raise GrafanaError(f"Grafana refused to {what}: {answer.status_code} {_message(answer)}")
        try:
            return answer.json()
        except ValueError:
            raise GrafanaError(f"Grafana's answer to {what} is not JSON (HTTP {answer.status_code}); "
                               "is the URL Grafana's?") from None

    # ------------------------------------------------------------------ the calls the push uses

    def datasource(self, uid: str) -> dict | None:
        """Return the datasource with ``uid``, or None."""
        return self.call(f"read datasource {uid}", "GET", f"/api/datasources/uid/{_seg(uid)}", missing_ok=True)

    def create_datasource(self, body: dict) -> dict:
        """Create a datasource from its API body."""
        return self.call(f"create datasource {body.get('uid')}", "POST", "/api/datasources", body)

    def update_datasource(self, ds_id: int, body: dict) -> dict:
        """Replace the datasource with the numeric id ``ds_id``."""
        return self.call(f"update datasource {body.get('uid')}", "PUT", f"/api/datasources/{int(ds_id)}", body)

    def folder(self, uid: str) -> dict | None:
        """Return the folder with ``uid``, or None."""
        return self.call(f"read folder {uid}", "GET", f"/api/folders/{_seg(uid)}", missing_ok=True)

    def create_folder(self, uid: str, title: str) -> dict:
        """Create a folder."""
        return self.call(f"create folder {uid}", "POST", "/api/folders", {"title": title, "uid": uid})

    def rename_folder(self, uid: str, title: str, version: int | None) -> dict:
        """Give the folder ``uid`` a new title."""
        return self.call(f"rename folder {uid}", "PUT", f"/api/folders/{_seg(uid)}",
                         {"title": title, "version": version, "overwrite": True})

    def dashboard(self, uid: str) -> dict | None:
        """Return ``{"dashboard": ..., "meta": ...}`` of the dashboard with ``uid``, or None."""
        return self.call(f"read dashboard {uid}", "GET", f"/api/dashboards/uid/{_seg(uid)}", missing_ok=True)

    def save_dashboard(self, body: dict) -> dict:
        """Create or overwrite a dashboard (``POST /api/dashboards/db``)."""
        uid = (body.get("dashboard") or {}).get("uid")
        return self.call(f"write dashboard {uid}", "POST", "/api/dashboards/db", body)


def _seg(value: str) -> str:
    """Return ``value`` quoted as one path segment."""
    return quote(str(value), safe="")


def _message(answer: requests.Response) -> str:
    """Return Grafana's error message of an answer, or the start of its body."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text.strip()[:200] or answer.reason or ""
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body)[:200]
