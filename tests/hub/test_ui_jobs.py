"""Long work in the background: label sheets, bulk import and KPI exports, with progress.

Each page starts a job and answers at once with a redirect to the job's page; the job runs
on the app's thread pool against the real SQLite database. The tests wait for the job with
a deadline, then check the file it produced: the label PDF is rendered with poppler and its
QR codes decoded with zbar, so "the QR encodes the asset URL" is checked on the printed page.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import threading

import pytest
from relational_support import clock, csrf_from, web
from sqlalchemy import update

from french_support import texts_of, untranslated
from wardlink.hub.db import session_scope
from wardlink.hub.db.models import User
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.services.assets import register as assets
from wardlink.hub.web.jobs import JobRegistry, JobResult
from wardlink.hub.web.ui import ui_state
from wardlink.clock import ManualClock

JOB_TIMEOUT_S = 60


def _job_id(response) -> str:
    assert response.status_code == 303, response.text
    return re.search(r"/jobs/([^/]+)$", response.headers["Location"]).group(1)


def _finish(web, job_id):
    with web.app.app_context():
        job = ui_state().jobs.wait(job_id, JOB_TIMEOUT_S)
    assert job.is_finished, f"job {job_id} still {job.state} after {JOB_TIMEOUT_S} s"
    return job


def decode_pdf_qr_codes(pdf: bytes, tmp_path) -> list[str]:
    """Render every page of ``pdf`` at 150 dpi with pdftoppm and decode its QR codes with zbar."""
    from PIL import Image
    from pyzbar.pyzbar import ZBarSymbol, decode

    source = tmp_path / "sheet.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(source), str(tmp_path / "page")], check=True)
    found = []
    for page in sorted(tmp_path.glob("page-*.png")):
        found += [s.data.decode() for s in decode(Image.open(page), symbols=[ZBarSymbol.QRCODE])]
    return found


needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (pdftoppm)")


@needs_poppler
@pytest.mark.timeout(120)
def test_a_label_sheet_for_every_matching_asset_carries_each_assets_url_as_a_qr_code(web, tmp_path):
    client = web.client("manager")
    page = client.get("/labels?q=VF-")
    assert page.status_code == 200
    job_id = _job_id(client.post("/labels", data={"scope": "matching", "q": "VF-",
                                                  "csrf_token": csrf_from(page.text)}))
    progress = client.get(f"/jobs/{job_id}").text
    assert 'id="job-' in progress
    job = _finish(web, job_id)
    assert job.state == "done", job.error
    status = client.get(f"/jobs/{job_id}/status").text
    assert "hx-trigger" not in status  # the finished box stops polling
    download = client.get(f"/jobs/{job_id}/download")
    assert download.headers["Content-Type"] == "application/pdf"
    with session_scope(web.engine) as s:
        tags = [a.tag for a in assets.list_assets(s, actor=None, q="VF-", per_page=200).items]
    base = web.config.resolved_public_url
    assert sorted(decode_pdf_qr_codes(download.data, tmp_path)) == sorted(f"{base}/a/{t}" for t in tags)
    text = subprocess.run(["pdftotext", "-", "-"], input=download.data, capture_output=True, check=True).stdout
    assert all(t.encode() in text for t in tags)


def test_someone_elses_job_is_not_found(web):
    owner = web.client("manager")
    job_id = _job_id(owner.post("/labels", data={"tag": "VF-0001",
                                                 "csrf_token": csrf_from(owner.get("/labels").text)}))
    _finish(web, job_id)
    other = web.client("admin")
    for suffix in ("", "/status", "/download"):
        assert other.get(f"/jobs/{job_id}{suffix}").status_code == 404
    assert owner.get(f"/jobs/{job_id}/download").status_code == 200


def test_ticking_no_asset_is_refused_before_any_job_starts(web):
    client = web.client("manager")
    response = client.post("/labels", data={"csrf_token": csrf_from(client.get("/labels").text)})
    assert response.status_code == 400 and "tick at least one asset" in response.text


def _csv(rows) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_a_french_readers_import_job_says_its_progress_summary_and_refusals_in_french(web):
    with session_scope(web.engine) as s:
        s.execute(update(User).where(User.username == "admin").values(locale="fr"))
    client = web.client("admin")
    content = _csv([["Tag", "Name", "Category", "Department"], ["IMP-001", "Syringe pump", "infusion_pump", "ICU"],
                    ["IMP-002", "Ventilator", "ventilator", "NOWHERE"]])
    job_id = _job_id(client.post("/assets/import", data={
        "csrf_token": csrf_from(client.get("/assets/import").text), "file": (io.BytesIO(content), "assets.csv")},
        content_type="multipart/form-data"))
    assert _finish(web, job_id).state == "done"
    page = client.get(f"/jobs/{job_id}").text
    assert "1 équipement importé, 1 ligne refusée." in page and "1 problème" in page
    assert "ligne 3 (IMP-002) : department : aucun service avec le code ou le nom &#39;NOWHERE&#39;" in page
    assert "imported" not in page and "refused" not in page and "no department" not in page
    assert untranslated(texts_of(page), names={"Administrator"}) == []  # a name is data
    listing = client.get("/jobs").text
    assert "1 équipement importé, 1 ligne refusée." in listing and "Import de 2 équipements" in listing
    status = client.get(f"/jobs/{job_id}/status", headers={"Accept": "application/json"}).json
    assert status["summary"] == "1 asset imported, 1 row refused."  # scripts read English


def test_bulk_import_keeps_good_rows_and_reports_each_bad_row_with_its_number(web):
    client = web.client("admin")
    token = csrf_from(client.get("/assets/import").text)
    content = _csv([
        ["Tag", "Name", "Category", "Department", "Purchase date", "Life support"],
        ["IMP-001", "Syringe pump", "infusion_pump", "ICU", "2024-02-01", "no"],
        ["VF-0001", "Duplicate of an existing tag", "fridge", "ICU", "", ""],
        ["IMP-002", "Ventilator", "ventilator", "NOWHERE", "", "yes"],
        ["IMP-003", "Monitor", "monitor", "", "31/02/2024", ""],
        ["IMP-004", "Defibrillator", "defibrillator", "Intensive Care Unit", "", "yes"],
    ])
    job_id = _job_id(client.post("/assets/import", data={
        "csrf_token": token, "file": (io.BytesIO(content), "assets.csv")}, content_type="multipart/form-data"))
    job = _finish(web, job_id)
    assert job.state == "done", job.error
    assert str(job.result.summary) == "2 assets imported, 3 rows refused."
    problems = [str(p) for p in job.result.problems]
    assert [p.split(":")[0] for p in problems] == ["row 3 (VF-0001)", "row 4 (IMP-002)", "row 5 (IMP-003)"]
    assert "already used" in problems[0] and "NOWHERE" in problems[1] and "purchase_date" in problems[2]
    report = list(csv.reader(io.StringIO(client.get(f"/jobs/{job_id}/download").data.decode())))
    assert [r[:2] for r in report] == [["row", "tag"], ["3", "VF-0001"], ["4", "IMP-002"], ["5", "IMP-003"]]
    with session_scope(web.engine) as s:
        imported = {a.tag: a for a in assets.list_assets(s, actor=None, q="IMP-", per_page=50).items}
        assert sorted(imported) == ["IMP-001", "IMP-004"]
        assert imported["IMP-004"].life_support is True and imported["IMP-004"].department.code == "ICU"


def test_a_refused_row_that_looks_like_a_formula_stays_text_in_the_error_report(web):
    client = web.client("admin")
    token = csrf_from(client.get("/assets/import").text)
    tags = ["=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"]
    content = _csv([["Tag", "Name", "Category"], *([tag, "Refused", "no_such_category"] for tag in tags)])
    job_id = _job_id(client.post("/assets/import", data={
        "csrf_token": token, "file": (io.BytesIO(content), "assets.csv")}, content_type="multipart/form-data"))
    job = _finish(web, job_id)
    assert job.state == "done", job.error
    report = list(csv.reader(io.StringIO(client.get(f"/jobs/{job_id}/download").data.decode(), newline="")))
    cells = [cell for row in report[1:] for cell in row[1:]]
    assert len(report) == 1 + len(tags)
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert [row[1][:2] for row in report[1:]] == ["'=", "'+", "'-", "'@", "'=", "'="]  # blanks trimmed


def test_an_excel_import_is_read_like_a_csv(web):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["tag", "name", "category", "purchase_date"])
    import datetime as dt
    book.active.append(["XL-1", "Suction unit", "suction", dt.datetime(2023, 5, 4)])
    buffer = io.BytesIO()
    book.save(buffer)
    client = web.client("admin")
    job_id = _job_id(client.post("/assets/import", data={
        "csrf_token": csrf_from(client.get("/assets/import").text),
        "file": (io.BytesIO(buffer.getvalue()), "assets.xlsx")}, content_type="multipart/form-data"))
    assert str(_finish(web, job_id).result.summary) == "1 asset imported, 0 rows refused."
    with session_scope(web.engine) as s:
        assert str(assets.get_asset(s, "XL-1", actor=None).purchase_date) == "2023-05-04"


def test_an_unreadable_import_file_is_refused_with_the_reason(web):
    client = web.client("admin")
    response = client.post("/assets/import", data={
        "csrf_token": csrf_from(client.get("/assets/import").text),
        "file": (io.BytesIO(b"colour,size\nred,3\n"), "x.csv")}, content_type="multipart/form-data")
    assert response.status_code == 400 and "at least &#39;tag&#39; and &#39;name&#39;" in response.text


@pytest.mark.parametrize("fmt, magic", [("csv", b"department,"), ("xlsx", b"PK"), ("pdf", b"%PDF")])
def test_a_kpi_report_exports_in_the_background_as_csv_excel_or_pdf(web, fmt, magic):
    client = web.client("manager")
    page = client.get("/reports?start=2025-12-01&end=2025-12-31")
    assert page.status_code == 200 and "Maintenance KPIs" in page.text
    job_id = _job_id(client.post("/reports/export", data={
        "format": fmt, "start": "2025-12-01", "end": "2025-12-31", "csrf_token": csrf_from(page.text)}))
    job = _finish(web, job_id)
    assert job.state == "done", job.error
    download = client.get(f"/jobs/{job_id}/download")
    assert download.data.startswith(magic)
    assert "kpis-all-2025-12-01-2025-12-31" in download.headers["Content-Disposition"]


# ------------------------------------------------------------------ the registry itself


def test_the_registry_reports_progress_and_keeps_results_for_an_hour():
    clock = ManualClock(1000.0)
    jobs = JobRegistry(clock, workers=1)
    gate = threading.Event()
    try:
        def work(progress):
            progress.total(4)
            progress.advance(2, message="half way")
            gate.wait(10)
            return JobResult(summary="done", filename="x.txt", content=b"x")

        job = jobs.submit(kind="t", title="T", owner_id=1, fn=work)
        deadline = threading.Event()
        for _ in range(500):
            if job.done == 2:
                break
            deadline.wait(0.01)
        assert (job.state, job.percent, job.message) == ("running", 50, "half way")
        gate.set()
        assert jobs.wait(job.id, 10).to_json()["summary"] == "done" and job.percent == 100
        clock.advance(3601)
        jobs.submit(kind="t", title="later", owner_id=1, fn=lambda p: JobResult(summary="x"))
        with pytest.raises(NotFound):  # the finished job has been forgotten
            jobs.get(job.id, owner_id=1)
    finally:
        jobs.close()


def test_a_failing_job_shows_its_message_and_the_pool_carries_on():
    jobs = JobRegistry(ManualClock(0.0), workers=1)
    try:
        def bad(_):
            raise InvalidInput("department: no department 'X'")

        def crash(_):
            raise RuntimeError("secret internals")

        first = jobs.wait(jobs.submit(kind="t", title="a", owner_id=None, fn=bad).id, 10)
        second = jobs.wait(jobs.submit(kind="t", title="b", owner_id=None, fn=crash).id, 10)
        third = jobs.wait(jobs.submit(kind="t", title="c", owner_id=None,
                                      fn=lambda p: JobResult(summary="ok")).id, 10)
        assert (first.state, str(first.error)) == ("failed", "department: no department 'X'")
        assert second.state == "failed" and "secret" not in str(second.error)
        assert third.state == "done"
    finally:
        jobs.close()
