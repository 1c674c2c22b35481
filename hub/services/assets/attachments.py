"""Files kept with an asset: photos of its labels and condition, manuals, certificates.

Files are checked and stored like a work order's (:mod:`wardlink.hub.services.maintenance.attachments`):
type sniffed from the content, size-limited, content-addressed outside the web root. Anyone
who may see the asset may see its files; adding one needs ``asset.update`` in the asset's
department. Files are only ever added, and each addition is audited.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import AssetAttachment
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.assets.register import get_asset
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.maintenance.attachments import AttachmentStore, clean_filename, sniff
from wardlink.hub.services.maintenance.photo_metadata import strip_metadata
from wardlink.hub.services.people.permissions import require
from wardlink.clock import Clock

MAX_ATTACHMENTS_PER_ASSET = 100
MAX_ID = 2**31 - 1


def asset_attachments(session: Session, tag: str, *, actor: Actor | None) -> list[AssetAttachment]:
    """Return the files of an asset the actor may see, oldest first."""
    asset = get_asset(session, tag, actor=actor)
    return list(session.scalars(select(AssetAttachment).where(AssetAttachment.asset_id == asset.id)
                                .order_by(AssetAttachment.id)))


def add_asset_attachment(session: Session, tag: str, *, filename: str | None, data: bytes,
                         store: AttachmentStore, actor: Actor | None,
                         clock: Clock | None = None) -> AssetAttachment:
    """Store a file and attach it to an asset; the same file twice returns the first attachment."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "asset.update")
    asset = get_asset(session, tag, actor=who)
    content_type = sniff(data)
    data = strip_metadata(data, content_type)  # no GPS, device or time of the photo is kept
    digest = hashlib.sha256(data).hexdigest()
    same = session.scalar(select(AssetAttachment).where(AssetAttachment.asset_id == asset.id,
                                                        AssetAttachment.sha256 == digest))
    if same is not None:
        return same  # a retried upload adds nothing
    count = session.scalar(select(func.count()).select_from(AssetAttachment)
                           .where(AssetAttachment.asset_id == asset.id))
    if count >= MAX_ATTACHMENTS_PER_ASSET:
        raise InvalidInput(N_("file: asset '%(tag)s' already has %(max_attachments_per_asset)s files, the most "
                              "allowed"), tag=asset.tag, max_attachments_per_asset=MAX_ATTACHMENTS_PER_ASSET)
    store.put(data)
    row = AssetAttachment(asset_id=asset.id, filename=clean_filename(filename), content_type=content_type,
                          size=len(data), sha256=digest, uploaded_by_id=who.user_id,
                          uploaded_by=who.username[:100], created_at=utc_now(clock))
    session.add(row)
    session.flush()
    audit.record(session, actor=who, action="asset.attach", entity="asset", entity_id=asset.tag,
                 after={"attachment_id": row.id, "filename": row.filename, "content_type": content_type,
                        "size": row.size, "sha256": digest}, clock=clock)
    return row


def get_asset_attachment(session: Session, tag: str, attachment_id: int, *,
                         actor: Actor | None) -> AssetAttachment:
    """Return one file of an asset the actor may see."""
    asset = get_asset(session, tag, actor=actor)
    row = session.get(AssetAttachment, attachment_id) if 1 <= attachment_id <= MAX_ID else None
    if row is None or row.asset_id != asset.id:
        raise NotFound(N_("file %(attachment_id)s of asset '%(tag)s' does not exist"),
                       attachment_id=attachment_id, tag=tag)
    return row
