"""`wardlink grafana push` against an HTTP server that answers like Grafana's HTTP API.

Grafana cannot be installed on a CI machine, so the server below plays its part at the wire:
it keeps datasources, folders and dashboards, answers 404/401/409 as Grafana does, and
records every request so the tests can check paths, methods, JSON bodies, the Authorization
header and that a second push writes nothing it need not.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wardlink.provisioning.errors import GrafanaError, SettingError
from wardlink.provisioning.grafana.push import push

TOKEN = "glsa_test_token_0123456789"
SETTINGS = {"WARDLINK_INFLUX_URL": "http://influx.internal:8086", "WARDLINK_INFLUX_DATABASE": "wardlink",
            "WARDLINK_INFLUX_USER": "", "WARDLINK_INFLUX_PASSWORD": "",
            "WARDLINK_PG_HOST": "db.internal:5432", "WARDLINK_PG_DATABASE": "wardlink",
            "WARDLINK_PG_USER": "grafana_reader", "WARDLINK_PG_PASSWORD": "pg-secret", "WARDLINK_PG_SSLMODE": "require"}


class GrafanaAPI(BaseHTTPRequestHandler):
    """The part of Grafana's HTTP API that the push uses."""

    def log_message(self, *args):  # keep the test output clean
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        state["requests"].append((method, self.path, body, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, {"message": "Unauthorized"})
        for pattern, handler in ROUTES:
            match = re.fullmatch(pattern, f"{method} {self.path}")
            if match:
                return self._reply(*handler(state, body, *match.groups()))
        self._reply(404, {"message": "Not found"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")


def get_datasource(state, body, uid):
    found = next((d for d in state["datasources"].values() if d["uid"] == uid), None)
    return (200, found) if found else (404, {"message": "Data source not found"})


def create_datasource(state, body):
    if not body.get("name") or not body.get("type"):
        return 400, {"message": "name and type required"}
    if any(d["name"] == body["name"] for d in state["datasources"].values()):
        return 409, {"message": "data source with the same name already exists"}
    new_id = len(state["datasources"]) + 1
    state["datasources"][new_id] = {**body, "id": new_id}
    return 200, {"id": new_id, "message": "Datasource added", "datasource": state["datasources"][new_id]}


def update_datasource(state, body, ds_id):
    if int(ds_id) not in state["datasources"]:
        return 404, {"message": "Data source not found"}
    state["datasources"][int(ds_id)] = {**body, "id": int(ds_id)}
    return 200, {"message": "Datasource updated", "id": int(ds_id)}


def get_folder(state, body, uid):
    folder = state["folders"].get(uid)
    return (200, folder) if folder else (404, {"message": "folder not found"})


def create_folder(state, body):
    if body["uid"] in state["folders"]:
        return 409, {"message": "a folder with the same uid already exists"}
    state["folders"][body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
    return 200, state["folders"][body["uid"]]


def get_dashboard(state, body, uid):
    stored = state["dashboards"].get(uid)
    return (200, stored) if stored else (404, {"message": "Dashboard not found"})


def save_dashboard(state, body):
    board = body["dashboard"]
    if not board.get("title"):
        return 400, {"message": "Dashboard title cannot be empty"}
    if body.get("folderUid") not in state["folders"]:
        return 400, {"message": "folder not found"}
    old = state["dashboards"].get(board["uid"])
    if old and not body.get("overwrite"):
        return 412, {"message": "A dashboard with the same uid already exists"}
    version = old["dashboard"]["version"] + 1 if old else 1
    state["dashboards"][board["uid"]] = {"dashboard": {**board, "id": 100 + len(state["dashboards"]),
                                                       "version": version},
                                         "meta": {"folderUid": body["folderUid"]}}
    return 200, {"status": "success", "uid": board["uid"], "version": version}


ROUTES = [
    (r"GET /api/datasources/uid/([\w-]+)", get_datasource),
    (r"POST /api/datasources", create_datasource),
    (r"PUT /api/datasources/(\d+)", update_datasource),
    (r"GET /api/folders/([\w-]+)", get_folder),
    (r"POST /api/folders", create_folder),
    (r"GET /api/dashboards/uid/([\w-]+)", get_dashboard),
    (r"POST /api/dashboards/db", save_dashboard),
]


@pytest.fixture
def grafana():
    """Serve the API on a free port; yield (base URL, state)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), GrafanaAPI)
    server.state = {"requests": [], "datasources": {}, "folders": {}, "dashboards": {}}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.state
    server.shutdown()
    server.server_close()
    thread.join(10)


def writes(state):
    return [(m, p) for m, p, _, _ in state["requests"] if m != "GET"]


def test_the_first_push_creates_datasources_folder_and_every_dashboard(grafana):
    url, state = grafana
    report = push(url, TOKEN, settings=SETTINGS)
    assert writes(state) == [("POST", "/api/datasources")] * 2 + [("POST", "/api/folders")] + \
        [("POST", "/api/dashboards/db")] * 6
    assert all(auth == f"Bearer {TOKEN}" for *_, auth in state["requests"])
    influx, postgres = (body for m, p, body, _ in state["requests"] if (m, p) == ("POST", "/api/datasources"))
    assert influx["uid"] == "wardlink-influxdb" and influx["url"] == "http://influx.internal:8086"
    assert influx["jsonData"]["dbName"] == "wardlink" and influx["access"] == "proxy"
    assert postgres["uid"] == "wardlink-postgres" and postgres["url"] == "db.internal:5432"
    assert postgres["secureJsonData"] == {"password": "pg-secret"}
    assert postgres["jsonData"]["sslmode"] == "require"
    folder = next(b for m, p, b, _ in state["requests"] if p == "/api/folders")
    assert folder == {"title": "Wardlink", "uid": "wardlink"}
    saved = [b for m, p, b, _ in state["requests"] if p == "/api/dashboards/db"]
    assert {b["dashboard"]["uid"] for b in saved} == set(state["dashboards"]) and len(saved) == 6
    assert all(b["folderUid"] == "wardlink" and b["overwrite"] is True and b["dashboard"]["id"] is None
               for b in saved)
    assert len(report.created) == 9 and not report.updated


def test_a_second_push_rewrites_no_dashboard_and_no_folder(grafana):
    url, state = grafana
    push(url, TOKEN, settings=SETTINGS)
    state["requests"].clear()
    report = push(url, TOKEN, settings=SETTINGS)
    # Datasources are written again (their secrets cannot be read back to compare); nothing else.
    assert writes(state) == [("PUT", "/api/datasources/1"), ("PUT", "/api/datasources/2")]
    assert len(report.unchanged) == 7 and report.created == []
    assert all(v["dashboard"]["version"] == 1 for v in state["dashboards"].values())
    assert len(state["datasources"]) == 2


def test_a_dashboard_edited_in_grafana_is_put_back(grafana):
    url, state = grafana
    push(url, TOKEN, settings=SETTINGS)
    state["dashboards"]["wardlink-cold-chain"]["dashboard"]["title"] = "edited by hand"
    state["requests"].clear()
    report = push(url, TOKEN, settings=SETTINGS, datasources=False)
    assert writes(state) == [("POST", "/api/dashboards/db")]
    assert report.updated == ["dashboard wardlink-cold-chain"]
    assert state["dashboards"]["wardlink-cold-chain"]["dashboard"]["title"] == "Wardlink · Cold chain"


def test_the_influxdb_2_variant_sends_the_token_header(grafana):
    url, state = grafana
    push(url, TOKEN, influx_version="2", settings={**SETTINGS, "WARDLINK_INFLUX_TOKEN": "influx-tok"})
    influx = next(d for d in state["datasources"].values() if d["uid"] == "wardlink-influxdb")
    assert influx["jsonData"]["httpHeaderName1"] == "Authorization"
    assert influx["secureJsonData"] == {"httpHeaderValue1": "Token influx-tok"}


def test_a_wrong_token_is_a_clear_error_and_nothing_is_written(grafana):
    url, state = grafana
    with pytest.raises(GrafanaError, match="Unauthorized"):
        push(url, "wrong", settings=SETTINGS)
    assert state["datasources"] == {} and state["dashboards"] == {}


def test_a_missing_setting_names_the_variable(grafana):
    url, _ = grafana
    with pytest.raises(SettingError, match=r"datasources\[0\]\.url: empty.*\$\{WARDLINK_INFLUX_URL\}"):
        push(url, TOKEN, settings={**SETTINGS, "WARDLINK_INFLUX_URL": ""})


def test_the_command_line_reads_secrets_from_files(grafana, tmp_path, capsys):
    import argparse

    from wardlink.provisioning.cli import register_cli

    url, state = grafana
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "pg").write_text("from-a-file\n")
    parser = argparse.ArgumentParser(prog="wardlink")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "grafana", "push", "--url", url, "--token-file", str(tmp_path / "token"),
        "--influx-url", "http://i:8086", "--influx-database", "wl", "--postgres-host", "p:5432",
        "--postgres-database", "wl", "--postgres-user", "reader", "--postgres-sslmode", "disable",
        "--postgres-password-file", str(tmp_path / "pg")])
    assert args.func(args) == 0
    postgres = next(d for d in state["datasources"].values() if d["uid"] == "wardlink-postgres")
    assert postgres["secureJsonData"] == {"password": "from-a-file"} and postgres["user"] == "reader"
    assert "created   dashboard wardlink-fleet" in capsys.readouterr().out

    args = parser.parse_args(["grafana", "push", "--url", url, "--token", "wrong", "--skip-datasources"])
    assert args.func(args) == 2
    assert "Unauthorized" in capsys.readouterr().err


def test_the_site_zone_goes_on_every_board_and_a_bad_one_writes_nothing(grafana):
    url, state = grafana
    with pytest.raises(SettingError, match="timezone: not an IANA time zone name"):
        push(url, TOKEN, settings=SETTINGS, timezone="Europe/Nowhere")
    assert state["datasources"] == {} and state["dashboards"] == {}
    push(url, TOKEN, settings=SETTINGS, timezone="America/New_York")
    assert {v["dashboard"]["timezone"] for v in state["dashboards"].values()} == {"America/New_York"}
    state["requests"].clear()
    push(url, TOKEN, settings=SETTINGS, datasources=False)  # without the option: the files' browser zone
    assert {v["dashboard"]["timezone"] for v in state["dashboards"].values()} == {"browser"}
