"""Recalls as people follow them: the review queue, confirming or rejecting a fuzzy match, each
recall's progress and the dashboard.

A fuzzy match (:mod:`wardlink.hub.services.compliance.matching`) names an asset the recall may
concern. Someone with ``recall.manage`` in the asset's department confirms it (the match is
linked and the recall work order opened, once) or rejects it with a reason; either is audited
and final. A recall's completion is the share of its linked assets whose work order is completed
or closed; a recall is open while any linked asset's order is not done or a match awaits review.
People limited to a department see the matches and figures of their department's assets only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Asset, Recall, RecallImport, RecallMatch, WorkOrder
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, Message, NotFound, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.compliance.recalls import open_order
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.validate import text
from wardlink.clock import Clock

#: Work-order states in which a recall's action on an asset is done.
DONE_STATES = ("completed", "closed")
REASON = text(2000, required=True)
NOTE = text(2000)


@dataclass(frozen=True)
class RecallProgress:
    """A recall and how far the hospital has got with it."""

    recall: Recall
    linked: int
    done: int
    to_review: int

    @property
    def completion(self) -> float | None:
        """Return the share of linked assets done, 0..100, or None when none is linked."""
        return round(100.0 * self.done / self.linked, 1) if self.linked else None

    @property
    def is_open(self) -> bool:
        """Return True while an asset's order is not done or a match awaits review."""
        return self.done < self.linked or self.to_review > 0


@dataclass(frozen=True)
class Dashboard:
    """The recall figures of the dashboard."""

    open_recalls: list[RecallProgress]
    affected_assets: int
    linked: int
    done: int
    to_review: int
    last_imports: list[RecallImport]

    @property
    def completion(self) -> float | None:
        """Return the share of all recalls' linked assets done, 0..100, or None."""
        return round(100.0 * self.done / self.linked, 1) if self.linked else None


def _scoped(stmt: Select, who: Actor) -> Select:
    scope = department_scope(who)
    if scope is None:
        return stmt
    return stmt.join(Asset, Asset.id == RecallMatch.asset_id).where(Asset.department_id == scope)


def progress_of(session: Session, recalls: list[Recall], who: Actor) -> list[RecallProgress]:
    """Return each recall's figures, in the order given."""
    ids = [r.id for r in recalls]
    done = WorkOrder.state.in_(DONE_STATES)
    stmt = (select(RecallMatch.recall_id, RecallMatch.state, func.count(),
                   func.sum(case((done, 1), else_=0)))
            .outerjoin(WorkOrder, WorkOrder.id == RecallMatch.work_order_id)
            .where(RecallMatch.recall_id.in_(ids), RecallMatch.state != "rejected")
            .group_by(RecallMatch.recall_id, RecallMatch.state))
    figures: dict[int, dict[str, int]] = {i: {"linked": 0, "done": 0, "review": 0} for i in ids}
    for recall_id, state, count, done_count in session.execute(_scoped(stmt, who)):
        figures[recall_id]["review" if state == "review" else "linked"] += count
        if state == "linked":
            figures[recall_id]["done"] += int(done_count or 0)
    return [RecallProgress(r, figures[r.id]["linked"], figures[r.id]["done"], figures[r.id]["review"])
            for r in recalls]


#: The lists of recalls: work to do, all done, concerning none of the assets, every one.
LISTS = ("open", "done", "unmatched", "all")


def standing(row: RecallProgress) -> str:
    """Return which list a recall is on: open, done or unmatched."""
    if row.is_open:
        return "open"
    return "done" if row.linked else "unmatched"


def list_recalls(session: Session, *, actor: Actor | None, status: str = "open",
                 limit: int = 500) -> list[RecallProgress]:
    """Return the recalls of one list (:data:`LISTS`), newest first, with their figures."""
    who = resolve_actor(actor)
    require(who, "recall.view")
    if status not in LISTS:
        raise InvalidInput(N_("status: must be one of %(choices)s, got %(status)r"), choices=", ".join(LISTS),
                           status=status)
    recalls = list(session.scalars(select(Recall).order_by(Recall.initiated_on.desc().nulls_last(),
                                                           Recall.id.desc()).limit(5000)))
    rows = progress_of(session, recalls, who)
    if status != "all":
        rows = [r for r in rows if standing(r) == status]
    return rows[:limit]


def get_recall(session: Session, recall_id: int, *, actor: Actor | None) -> RecallProgress:
    """Return one recall with its figures, or raise :class:`NotFound`."""
    who = resolve_actor(actor)
    require(who, "recall.view")
    recall = session.get(Recall, recall_id) if isinstance(recall_id, int) else None
    if recall is None:
        raise NotFound(N_("recall %(recall_id)s does not exist"), recall_id=recall_id)
    return progress_of(session, [recall], who)[0]


def matches_of(session: Session, recall_id: int, *, actor: Actor | None) -> list[RecallMatch]:
    """Return a recall's matches (the actor's department only, when limited to one)."""
    who = resolve_actor(actor)
    require(who, "recall.view")
    stmt = (select(RecallMatch).where(RecallMatch.recall_id == recall_id)
            .options(selectinload(RecallMatch.asset), selectinload(RecallMatch.work_order))
            .order_by(RecallMatch.state, RecallMatch.id))
    return list(session.scalars(_scoped(stmt, who)))


def review_queue(session: Session, *, actor: Actor | None, limit: int = 500) -> list[RecallMatch]:
    """Return the fuzzy matches waiting for a person, oldest first."""
    who = resolve_actor(actor)
    require(who, "recall.view")
    stmt = (select(RecallMatch).where(RecallMatch.state == "review")
            .options(selectinload(RecallMatch.asset), selectinload(RecallMatch.recall))
            .order_by(RecallMatch.id).limit(limit))
    return list(session.scalars(_scoped(stmt, who)))


def _pending(session: Session, match_id: int, who: Actor) -> RecallMatch:
    require(who, "recall.manage")
    match = session.get(RecallMatch, match_id, with_for_update=True) if isinstance(match_id, int) else None
    if match is None:
        raise NotFound(N_("recall match %(match_id)s does not exist"), match_id=match_id)
    require_department(who, match.asset.department_id, Message(N_("asset '%(tag)s'"), tag=match.asset.tag))
    if match.state != "review":
        raise InvalidInput(N_("state: the match of %(tag)s with recall %(reference)s was already decided (%(state)s)"),
                           tag=match.asset.tag, reference=match.recall.reference, state=Term(match.state))
    return match


def confirm(session: Session, match_id: int, *, actor: Actor | None, clock: Clock | None = None,
            note: str = "") -> RecallMatch:
    """Confirm a fuzzy match: the asset is concerned; open its recall work order."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    match = _pending(session, match_id, who)
    match.state, match.decided_by, match.decided_at = "linked", who.username, utc_now(clock)
    match.note = NOTE("note", note)
    order = open_order(session, match, who=who, clock=clock)
    audit.record(session, actor=who, action="recall.confirm", entity="recall_match", entity_id=match.id,
                 before={"state": "review"}, after={"state": "linked", "asset": match.asset.tag,
                                                    "recall": match.recall.reference, "work_order": order.code,
                                                    "note": match.note}, clock=clock)
    return match


def reject(session: Session, match_id: int, *, actor: Actor | None, clock: Clock | None = None,
           reason: str = "") -> RecallMatch:
    """Reject a fuzzy match with a reason: the recall does not concern the asset."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    match = _pending(session, match_id, who)
    match.note = REASON("reason", reason)
    match.state, match.decided_by, match.decided_at = "rejected", who.username, utc_now(clock)
    session.flush()
    audit.record(session, actor=who, action="recall.reject", entity="recall_match", entity_id=match.id,
                 before={"state": "review"}, after={"state": "rejected", "asset": match.asset.tag,
                                                    "recall": match.recall.reference, "reason": match.note},
                 clock=clock)
    return match


def dashboard(session: Session, *, actor: Actor | None) -> Dashboard:
    """Return the open recalls, the assets they concern and how much of all recall work is done."""
    who = resolve_actor(actor)
    every = list_recalls(session, actor=who, status="all", limit=5000)
    open_rows = [r for r in every if r.is_open]
    ids = [r.recall.id for r in open_rows]
    affected = session.scalar(_scoped(select(func.count(func.distinct(RecallMatch.asset_id)))
                                      .where(RecallMatch.recall_id.in_(ids), RecallMatch.state == "linked"), who))
    imports = list(session.scalars(select(RecallImport).order_by(RecallImport.id.desc()).limit(5)))
    return Dashboard(open_rows, int(affected or 0), sum(r.linked for r in every), sum(r.done for r in every),
                     sum(r.to_review for r in every), imports)
