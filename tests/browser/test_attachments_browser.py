"""Photos and documents in Chromium: a phone reports a problem with a photo from the QR page
without signing in, and a manager on a desktop attaches a photo and a PDF to the asset, opens
the photo in the viewer and downloads the PDF. Run on a desktop and a 390x844 phone each.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from test_attachments_ui import png, stored_paths
from test_ui_browser import DESKTOP, PHONE, Session

from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AssetAttachment, WorkOrderAttachment
from wardlink.hub.services.maintenance import workorders

pytestmark = pytest.mark.timeout(180)
DEVICES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.mark.parametrize("device", DEVICES)
def test_a_problem_report_from_the_qr_page_carries_a_photo(served, chromium, shots, device):
    visitor = Session(chromium, served, **DEVICES[device])
    page = visitor.open("/a/VF-0001")
    photo = png(width=40, height=30, seed=len(device))
    page.get_by_label("What is wrong?").fill(f"Door seal torn at the bottom hinge ({device})")
    assert page.locator("#photo").get_attribute("capture") == "environment"
    page.set_input_files("#photo", files=[{"name": "seal.png", "mimeType": "image/png", "buffer": photo}])
    page.get_by_role("button", name="Send report").click()
    reference = page.locator("[data-reference]").inner_text()
    page.screenshot(path=shots / f"report-photo-{device}.png", full_page=True)
    with session_scope(served.engine, readonly=True) as s:
        order = workorders.list_work_orders(s, actor=None, q=reference).items[0]
        [row] = s.scalars(select(WorkOrderAttachment).where(WorkOrderAttachment.work_order_id == order.id)).all()
        assert (order.source, row.filename, row.content_type, row.size) == ("qr", "seal.png", "image/png", len(photo))
    visitor.close()
    staff = Session(chromium, served, **DEVICES[device]).sign_in("manager")
    page = staff.open(f"/work-orders/{order.id}")
    thumb = page.locator("#files a.thumb img")
    thumb.scroll_into_view_if_needed()  # thumbnails load lazily
    page.wait_for_function("img => img.complete && img.naturalWidth === 40", arg=thumb.element_handle())
    staff.close()


@pytest.mark.parametrize("device", DEVICES)
def test_a_manager_attaches_a_photo_and_a_pdf_to_an_asset_views_and_downloads_them(served, chromium, shots,
                                                                                   tmp_path, device):
    me = Session(chromium, served, **DEVICES[device]).sign_in("manager")
    page = me.open("/assets/VF-0001")
    photo, pdf = png(width=80, height=60, seed=100 + len(device)), f"%PDF-1.4\n% certificate {device}\n".encode()
    files = page.locator("#files")
    plate, certificate = f"plate-{device}.png", f"certificate-{device}.pdf"
    for name, mime, data in ((plate, "image/png", photo), (certificate, "application/pdf", pdf)):
        files.locator("input[type=file]").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])
        files.get_by_role("button", name="Upload").click()
        page.wait_for_url(re.compile(r".*/assets/VF-0001#files$"))
    assert certificate in files.inner_text() and plate in files.inner_text()
    thumb = files.locator("a.thumb img").last
    thumb.scroll_into_view_if_needed()  # thumbnails load lazily
    page.wait_for_function("img => img.complete && img.naturalWidth === 80", arg=thumb.element_handle())
    thumb.click()
    dialog = page.locator("[data-viewer-dialog]")
    assert dialog.evaluate("d => d.open") is True
    page.screenshot(path=shots / f"asset-files-viewer-{device}.png")
    dialog.get_by_role("button", name="Close").click()
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    with page.expect_download() as download:
        files.locator(f'li:has-text("{certificate}")').get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == certificate
    assert Path(download.value.path()).read_bytes() == pdf
    with session_scope(served.engine, readonly=True) as s:
        names = [r.filename for r in s.scalars(select(AssetAttachment).order_by(AssetAttachment.id))]
        assert names[-2:] == [plate, certificate]
    assert len(stored_paths(Path(served.config.data_dir))) >= 2  # every file sits at attachments/<aa>/<sha256>
    me.close()
