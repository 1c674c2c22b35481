"""A server that answers like the part of Grafana's HTTP API that `wardlink grafana push` uses.

Grafana cannot be installed on a CI machine, so this plays its part at the wire: it keeps
datasources, folders and dashboards, answers 404/401/409 as Grafana does, and records every
request (method, path, JSON body, Authorization header) so tests can check what was sent.
Used by the push tests and by the packaging test, which runs the installed command against it.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

TOKEN = "glsa_test_token_0123456789"


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


def update_folder(state, body, uid):
    folder = state["folders"].get(uid)
    if not folder:
        return 404, {"message": "folder not found"}
    if body.get("version") != folder["version"] and not body.get("overwrite"):
        return 412, {"message": "the folder has been changed by someone else"}
    folder.update(title=body["title"], version=folder["version"] + 1)
    return 200, folder


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
    (r"PUT /api/folders/([\w-]+)", update_folder),
    (r"GET /api/dashboards/uid/([\w-]+)", get_dashboard),
    (r"POST /api/dashboards/db", save_dashboard),
]


@contextmanager
def serve() -> Iterator[tuple[str, dict]]:
    """Serve the API on a free port of 127.0.0.1; yield (base URL, state)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), GrafanaAPI)
    server.state = {"requests": [], "datasources": {}, "folders": {}, "dashboards": {}}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
