"""Electronic signatures: the signer re-enters their password to sign a record.

A signature row keeps who signed (user id, username and printed name at the time), when,
what the signature means (e.g. "approved and closed") and the SHA-256 of the signed record's
canonical JSON, so the signature is bound to exactly what was approved. Wrong passwords count
towards the same lockout as sign-in failures and are audited: a stolen, unlocked session is
not enough to sign.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wardlink.hub.db.audit import canonical_json
from wardlink.hub.db.models import (User, WorkOrder, WorkOrderAttachment, WorkOrderPart, WorkOrderSignature,
                           WorkOrderTimeLog)
from wardlink.hub.i18n import N_
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people.users import LOCKOUT, MAX_FAILED_LOGINS, is_locked
from wardlink.hub.services.maintenance.workorder_common import SignatureRefused, code_of
from wardlink.clock import Clock

MEANING_CLOSE = "approved and closed"
_hasher = PasswordHasher()


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeEncodeError):
        return False


def verify_signer(session: Session, who: Actor, password: str, *, now: datetime, clock: Clock) -> User:
    """Return the signing user when ``password`` is theirs; else count, audit and refuse.

    The failure count and audit row are flushed before :class:`SignatureRefused` is raised,
    so the caller must commit even when this raises.
    """
    if who.user_id is None:
        raise SignatureRefused(N_("only a signed-in user can sign; the console and services cannot"))
    user = session.get(User, who.user_id)
    if user is None or not user.is_active:
        raise SignatureRefused(N_("user '%(username)s' cannot sign: the account is disabled"), username=who.username)
    if is_locked(user, now):
        raise SignatureRefused(N_("user '%(username)s' cannot sign: too many wrong passwords; try again later"),
                               username=user.username)
    if not isinstance(password, str) or not password or not _password_matches(user.password_hash, password):
        user.failed_logins += 1
        audit.record(session, actor=who, action="signature.failed", entity="user",
                     entity_id=user.username, after={"failed_logins": user.failed_logins}, clock=clock)
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.failed_logins = 0
            user.locked_until = now + LOCKOUT
            audit.record(session, actor=who, action="user.locked", entity="user",
                         entity_id=user.username, after={"locked_until": user.locked_until}, clock=clock)
        session.flush()
        raise SignatureRefused(N_("password: is not correct; the signature was refused"))
    user.failed_logins = 0
    return user


def _number(value) -> str | None:
    # One spelling whatever scale the database hands back (2.000 and 2 both become "2").
    return None if value is None else format(value.normalize(), "f")


def signed_record(session: Session, order: WorkOrder) -> dict[str, Any]:
    """Return the content a closing signature covers: the order's outcome and its records."""
    minutes = session.scalar(select(func.coalesce(func.sum(WorkOrderTimeLog.minutes), 0))
                             .where(WorkOrderTimeLog.work_order_id == order.id))
    parts = session.execute(select(WorkOrderPart.part_number, WorkOrderPart.quantity, WorkOrderPart.unit_cost)
                            .where(WorkOrderPart.work_order_id == order.id).order_by(WorkOrderPart.id))
    files = session.scalars(select(WorkOrderAttachment.sha256)
                            .where(WorkOrderAttachment.work_order_id == order.id)
                            .order_by(WorkOrderAttachment.id))
    return {
        "work_order": code_of(order), "id": order.id, "kind": order.kind, "title": order.title,
        "asset": order.asset.tag if order.asset else None, "priority": order.priority,
        "resolution_category": order.resolution_category, "resolution_note": order.resolution_note,
        "completed_at": order.completed_at, "downtime_start": order.downtime_start,
        "downtime_end": order.downtime_end, "time_minutes": int(minutes or 0),
        "parts": [[p.part_number, _number(p.quantity), _number(p.unit_cost)] for p in parts],
        "attachments": list(files),
    }


def record_digest(record: dict[str, Any], *, signer: str, meaning: str, signed_at: datetime) -> str:
    """Return the SHA-256 binding a signature to ``record``."""
    content = {"record": record, "signer": signer, "meaning": meaning, "signed_at": signed_at}
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def sign(session: Session, order: WorkOrder, who: Actor, password: str, *, meaning: str,
         comment: str, now: datetime, clock: Clock) -> WorkOrderSignature:
    """Verify ``who``'s password and add their signature with ``meaning`` to ``order``."""
    user = verify_signer(session, who, password, now=now, clock=clock)
    digest = record_digest(signed_record(session, order), signer=user.username, meaning=meaning,
                           signed_at=now)
    row = WorkOrderSignature(work_order_id=order.id, user_id=user.id, username=user.username,
                             signer_name=user.display_name, meaning=meaning, comment=comment,
                             signed_at=now, record_hash=digest)
    session.add(row)
    session.flush()
    audit.record(session, actor=who, action="workorder.sign", entity="work_order", entity_id=order.id,
                 after={"signer": user.username, "signer_name": user.display_name, "meaning": meaning,
                        "signed_at": now, "record_hash": digest}, clock=clock)
    return row


def signature_intact(session: Session, signature: WorkOrderSignature) -> bool:
    """Return True when the signed order still matches what was signed."""
    order = session.get(WorkOrder, signature.work_order_id)
    digest = record_digest(signed_record(session, order), signer=signature.username,
                           meaning=signature.meaning, signed_at=signature.signed_at)
    return digest == signature.record_hash
