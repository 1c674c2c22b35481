"""Turning a public problem report into a work-order request (see :mod:`wardlink.hub.web.maintenance.public`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset
from wardlink.hub.i18n import default_locale, translate
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.actor import SYSTEM_ROLE, Actor
from wardlink.hub.services.maintenance.attachments import IMAGE_TYPES, AttachmentStore, sniff
from wardlink.hub.services.maintenance.workorder_common import code_of
from wardlink.hub.services.people import language
from wardlink.clock import Clock

#: Who a request from the QR page is recorded as; the reporter's own name goes in the order.
QR_ACTOR = "qr-report"
ANONYMOUS = "not given (QR label)"
TITLE_WORDS = 80


def public_request(session: Session, asset: Asset, *, description: str, reporter: str, contact: str,
                   source_ip: str | None, clock: Clock, email: str = "", out_of_use: bool = False,
                   photo: tuple[str | None, bytes] | None = None, store: AttachmentStore | None = None) -> str:
    """Open a corrective work order in Pending for ``asset``, with the reporter's ``photo``
    (name, bytes; images only); return its reference. A report that the device is out of use
    tags it out (do not use) until the work is closed. An ``email`` address given hears of
    every status change of the order."""
    if photo is not None:
        sniff(photo[1], IMAGE_TYPES)  # anyone may send this form: photos only, never documents
    actor = Actor(username=QR_ACTOR, role=SYSTEM_ROLE, source_ip=source_ip)
    summary = " ".join(description.split())
    if len(summary) > TITLE_WORDS:
        summary = summary[:TITLE_WORDS].rsplit(" ", 1)[0] + "..."
    # The order is read on the equipment's site: its title is in the site's language.
    locale = language.site_language(session, asset.department_id, default=default_locale())
    order = workorders.request_work(session, {
        "title": translate(locale, "Reported at %(tag)s: %(summary)s", tag=asset.tag, summary=summary),
        "description": description,
        "asset_tag": asset.tag, "requester_name": reporter or ANONYMOUS, "requester_contact": contact,
        "requester_email": email, "equipment_down": out_of_use,
    }, actor=actor, clock=clock, source="qr", files=[photo] if photo else (), store=store)
    return code_of(order)
