"""Recalls into the register: importing an openFDA file, entering a notice, the work orders.

A recall is known by its regulator and reference (the FDA's Z-number), so a file imported twice,
or a product present in both the recall and the enforcement file, is stored once. Each import
asks :class:`~wardlink.hub.services.compliance.matching.Matcher` which assets a recall concerns:
an exact match is linked and gets its recall work order at once; a fuzzy one waits in the review
queue (:mod:`wardlink.hub.services.compliance.recall_review`). A recall already held is matched
again, so assets registered since are found, but an asset it already concerns (linked, waiting
or rejected) is left as it is: one match and one work order per recall and asset, ever; the
unique keys of ``recall_matches`` hold that even against two imports at once.

Records are committed in batches of :data:`BATCH`, each record in its own savepoint: a record
that cannot be stored is refused with its reason and the rest are kept. The import is audited
once with its counts; every work order it opens is audited as work orders are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Asset, Recall, RecallImport, RecallMatch, WorkOrder
from wardlink.hub.db.models.recalls import RECALL_REGULATORS
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import HubError, InvalidInput, Message, PermissionDenied
from wardlink.hub.i18n import SOURCE_LOCALE, N_, translate
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.compliance.matching import AssetIdentity, Matcher
from wardlink.hub.services.compliance.openfda import RecallRecord, RefusedRecord, read_file
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.validate import choice, optional_date, parse_fields, product_code, text
from wardlink.clock import Clock

#: Records stored per transaction.
BATCH = 200
#: Lifecycle stages whose equipment is no longer the hospital's concern.
GONE = ("disposed",)
#: The work order's priority per FDA recall class (Class I: serious harm or death is likely).
PRIORITY_BY_CLASS = {"class i": "critical", "class ii": "high", "class iii": "medium"}
NOTICE_FIELDS = {
    "regulator": choice(RECALL_REGULATORS),
    "reference": text(64, required=True),
    "recalling_firm": text(200, required=True),
    "product_description": text(5000, required=True),
    "product_code": product_code,
    "code_info": text(5000),
    "classification": text(32),
    "reason": text(5000),
    "action": text(5000),
    "initiated_on": optional_date,
}

Progress = Callable[[int, int], None]


@dataclass
class ImportTally:
    """What an import did."""

    records: int = 0
    new_recalls: int = 0
    known_recalls: int = 0
    linked: int = 0
    to_review: int = 0
    work_orders: int = 0
    refused: list[RefusedRecord] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the counts (for the audit row and the API)."""
        return {"records": self.records, "new_recalls": self.new_recalls, "known_recalls": self.known_recalls,
                "refused": len(self.refused), "linked": self.linked, "to_review": self.to_review,
                "work_orders": self.work_orders}


def require_hospital_wide(who: Actor) -> None:
    """Refuse an import or notice to a user limited to one department: a recall concerns every one."""
    require(who, "recall.manage")
    if department_scope(who) is not None:
        raise PermissionDenied(N_("user '%(user)s' works in one department; recalls concern every department and "
                                  "are entered by someone without one"), user=who.username)


def build_matcher(session: Session) -> Matcher:
    """Return a matcher over every asset still in the hospital's hands."""
    rows = session.execute(select(Asset.id, Asset.make, Asset.model, Asset.product_code)
                           .where(Asset.lifecycle_stage.not_in(GONE), Asset.make != "", Asset.model != ""))
    return Matcher(AssetIdentity(*row) for row in rows)


def priority_of(recall: Recall) -> str:
    """Return the priority of a recall's work orders."""
    return PRIORITY_BY_CLASS.get(recall.classification.strip().casefold(), "high")


def open_order(session: Session, match: RecallMatch, *, who: Actor, clock: Clock) -> WorkOrder:
    """Open the recall work order of a linked match (internal: the caller checked the match)."""
    recall, asset = match.recall, match.asset
    parts = [recall.reason, f"Action: {recall.action}" if recall.action else "",
             f"Products concerned: {recall.code_info}" if recall.code_info else "",
             f"Matched on {match.basis}."]
    order = workorders.create_work_order(
        session, {"kind": "recall", "title": f"Recall {recall.reference} ({recall.regulator}): "
                                             f"{recall.recalling_firm}, {asset.model}"[:300],
                  "description": "\n\n".join(p for p in parts if p)[:5000], "priority": priority_of(recall),
                  "asset_tag": asset.tag}, actor=who, clock=clock)
    match.work_order_id = order.id
    session.flush()
    return order


def _stored(session: Session, record: RecallRecord, who: Actor, clock: Clock) -> tuple[Recall, bool]:
    found = session.scalar(select(Recall).where(Recall.regulator == record.regulator,
                                                Recall.reference == record.reference))
    if found is not None:
        return found, False
    values = {k: getattr(record, k) for k in (
        "regulator", "reference", "source", "recalling_firm", "product_description", "product_code",
        "event_number", "code_info", "k_numbers", "classification", "recall_status", "reason", "action",
        "initiated_on")}
    recall = Recall(**values, created_at=utc_now(clock), created_by=who.username)
    session.add(recall)
    session.flush()
    return recall, True


def link_assets(session: Session, recall: Recall, matcher: Matcher, *, who: Actor, clock: Clock,
                tally: ImportTally) -> None:
    """Add the matches a recall does not have yet; open the work orders of the exact ones."""
    held = set(session.scalars(select(RecallMatch.asset_id).where(RecallMatch.recall_id == recall.id)))
    now = utc_now(clock)
    for candidate in matcher.match(recall.recalling_firm, f"{recall.product_description}\n{recall.code_info}",
                                   recall.product_code):
        if candidate.asset_id in held:
            continue
        exact = candidate.kind == "exact"
        match = RecallMatch(recall_id=recall.id, asset_id=candidate.asset_id, kind=candidate.kind,
                            state="linked" if exact else "review", basis=candidate.basis[:300],
                            decided_by="matcher" if exact else "", decided_at=now if exact else None,
                            created_at=now)
        session.add(match)
        session.flush()
        if exact:
            open_order(session, match, who=who, clock=clock)
            tally.linked += 1
            tally.work_orders += 1
        else:
            tally.to_review += 1


def store_record(session: Session, position: int, record: RecallRecord, matcher: Matcher, *, who: Actor,
                 clock: Clock, tally: ImportTally) -> None:
    """Store one record and its matches in a savepoint; refuse it with the reason when that fails."""
    before = (tally.linked, tally.to_review, tally.work_orders)
    try:
        with session.begin_nested():
            recall, new = _stored(session, record, who, clock)
            link_assets(session, recall, matcher, who=who, clock=clock, tally=tally)
    except (HubError, IntegrityError) as exc:
        tally.linked, tally.to_review, tally.work_orders = before
        reason = exc.message if isinstance(exc, HubError) else Message(
            N_("record: was changed by another import at the same time; import the file again"))
        tally.refused.append(RefusedRecord(position, record.reference, reason))
        return
    if new:
        tally.new_recalls += 1
    else:
        tally.known_recalls += 1


def import_file(engine: Engine, filename: str, content: bytes, *, actor: Actor | None, clock: Clock | None = None,
                progress: Progress | None = None) -> tuple[RecallImport, ImportTally]:
    """Import an openFDA device recall or enforcement file; return the import's record and tally."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require_hospital_wide(who)
    parsed = read_file(content)
    tally = ImportTally(records=parsed.total, refused=list(parsed.refused))
    report = progress or (lambda done, total: None)
    report(0, len(parsed.records))
    with session_scope(engine) as session:
        matcher = build_matcher(session)
    for start in range(0, len(parsed.records), BATCH):
        with session_scope(engine) as session:
            for position, record in parsed.records[start:start + BATCH]:
                store_record(session, position, record, matcher, who=who, clock=clock, tally=tally)
        report(min(start + BATCH, len(parsed.records)), len(parsed.records))
    tally.refused.sort(key=lambda r: r.position)
    with session_scope(engine) as session:
        row = RecallImport(filename=filename[:200], **{k: v for k, v in tally.as_dict().items() if k != "refused"},
                           refused=len(tally.refused), problems="\n".join(describe(r, SOURCE_LOCALE)
                                                                     for r in tally.refused),
                           imported_at=utc_now(clock), imported_by=who.username)
        session.add(row)
        session.flush()
        audit.record(session, actor=who, action="recall.import", entity="recall_import", entity_id=row.id,
                     after={"filename": row.filename, **tally.as_dict()}, clock=clock)
    return row, tally


def describe(refused: RefusedRecord, locale: str | None = None) -> str:
    """Return a refused record as one line in ``locale``: record N (reference): reason."""
    reason = translate(locale, refused.reason.template, **refused.reason.values)
    if refused.reference:
        return translate(locale, N_("record %(position)s (%(reference)s): %(reason)s"), position=refused.position,
                         reference=refused.reference, reason=reason)
    return translate(locale, N_("record %(position)s: %(reason)s"), position=refused.position, reason=reason)


def create_notice(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                  clock: Clock | None = None) -> tuple[Recall, ImportTally]:
    """Enter a field safety notice by hand (MHRA, ANSM...), match it and open its work orders."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require_hospital_wide(who)
    fields = parse_fields(NOTICE_FIELDS, {"regulator": "MHRA", **data}, partial=False)
    if session.scalar(select(Recall.id).where(Recall.regulator == fields["regulator"],
                                              Recall.reference == fields["reference"])) is not None:
        raise InvalidInput(N_("reference: %(regulator)s notice %(reference)s is already recorded"),
                           regulator=fields["regulator"], reference=fields["reference"])
    record = RecallRecord(source="manual", **fields)
    recall, _ = _stored(session, record, who, clock)
    tally = ImportTally(records=1, new_recalls=1)
    link_assets(session, recall, build_matcher(session), who=who, clock=clock, tally=tally)
    audit.record(session, actor=who, action="recall.notice", entity="recall", entity_id=recall.id,
                 after={**{k: str(v) if v is not None else None for k, v in fields.items()}, **tally.as_dict()},
                 clock=clock)
    return recall, tally
