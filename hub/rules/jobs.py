"""Jobs and their transactions: one rule applied to one state key, run in bulk or one by one.

A call of the engine turns its input into :class:`Job` objects and hands them to
:class:`Transactions`, which loads the states they touch, runs their evaluators, applies the
actions they produce (alerts, work orders, meters, notifications) and saves the states, all
in one transaction. A database failure raises :class:`RuleStoreError` with nothing committed.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from wardlink.hub.db.engine import session_scope
from wardlink.hub.db.models.rules import Rule, RuleState
from wardlink.hub.rules import states, tracks
from wardlink.hub.rules.actions import Applier, Outcome, Subject
from wardlink.hub.rules.errors import RuleStoreError
from wardlink.hub.rules.spec import EscalationStep, RuleSpec
from wardlink.hub.rules.tracks import Routed
from wardlink.hub.services.alerts.notifications import Deliveries

log = logging.getLogger("wardlink.hub.rules.engine")


@dataclass(frozen=True)
class CompiledRule:
    """A stored rule with its evaluator built and its selector as sets."""

    id: int
    name: str
    kind: str
    severity: str
    title: str
    evaluator: Any
    match: Mapping[str, frozenset[str]]
    notify: tuple[str, ...]
    escalate: tuple[EscalationStep, ...]
    work_order: Mapping[str, Any] | None

    @classmethod
    def from_row(cls, row: Rule) -> CompiledRule:
        """Validate a stored rule and build it."""
        spec = RuleSpec.from_row(row)
        return cls(row.id, spec.name, spec.kind, spec.severity, spec.title, spec.evaluator(),
                   {k: frozenset(v) for k, v in spec.match.items()}, spec.notify, spec.escalate, spec.work_order)

    def matches(self, facts: Mapping[str, str | None]) -> bool:
        """Return True when every selector key allows the fact of the same name."""
        return all(facts.get(key) in allowed for key, allowed in self.match.items())


@dataclass
class Job:
    """One rule applied to one state key within a call."""

    rule: CompiledRule
    key: str
    subject: Subject
    run: Callable[[dict, Callable[[list[Routed]], None]], tuple[int, int]]  # -> (evaluated, duplicates)


def channel_key(gateway: str, channel: str, asset: str | None) -> str:
    """Return the state key of a rule on one channel (a re-bound channel starts afresh)."""
    return f"{gateway}/{channel}@{asset or '-'}"


_pause_lock = threading.Lock()
_pauses = [0, False]  # calls under way, whether the collector was enabled before the first


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector from running inside the block (any thread, nestable).

    A telemetry call allocates tens of thousands of short-lived containers (state documents,
    samples, jobs) and keeps them to its end. Collections in the middle of it would find them
    all alive and promote them, and promoted objects set off full collections over the whole
    heap. With the collector paused, they are freed by reference counting at the end of the
    call and never reach it; reference cycles made meanwhile are collected afterwards.
    """
    with _pause_lock:
        if _pauses[0] == 0:
            _pauses[1] = gc.isenabled()
            gc.disable()
        _pauses[0] += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses[0] -= 1
            if _pauses[0] == 0 and _pauses[1]:
                gc.enable()


class Transactions:
    """Run jobs, each call's in one transaction, under the engine's lock; count what happened in ``stats``."""

    def __init__(self, db: Engine, lock: Any, stats: Counter[str], applier: Callable[[Session, Outcome], Applier],
                 dispatcher: Deliveries | None) -> None:
        self._db = db
        self._lock = lock
        self.stats = stats
        self.applier = applier
        self.dispatcher = dispatcher

    def execute(self, jobs: list[Job], prelude: Callable[[Session], bool] | None = None) -> Outcome:
        """Run ``jobs`` through :meth:`run_job` in one transaction, after ``prelude`` (which may call it off)."""
        outcome = Outcome()
        if not jobs and prelude is None:
            return outcome
        try:
            with self._lock, session_scope(self._db) as session:
                if prelude is not None and not prelude(session):
                    return outcome
                applier = self.applier(session, outcome)
                rows = self._load_states(session, {(j.rule.id, j.key) for j in jobs})
                for job in jobs:
                    self.run_job(session, applier, rows, job, outcome)
        except SQLAlchemyError as exc:
            self.stats["store_errors"] += 1
            raise RuleStoreError(f"rules engine transaction failed: {exc.__class__.__name__}: {exc}") from exc
        self.after_commit(outcome)
        return outcome

    def execute_in_bulk(self, jobs: list[Job]) -> Outcome:
        """Run ``jobs`` in one transaction, reading and writing their states a few hundred at a time.

        A job whose evaluation produces no action only moves its state, which is saved with the
        others at the end. A job that acts first writes out the states moved so far, then runs
        through :meth:`run_job` (ORM rows, alert services, audit, savepoint), exactly as alone.
        """
        outcome = Outcome()
        if not jobs:
            return outcome
        try:
            with self._lock, session_scope(self._db) as session:
                applier = self.applier(session, outcome)
                docs = states.load(session, {(j.rule.id, j.key) for j in jobs})
                moved: dict[tuple[int, str], tuple[bool, Job, dict]] = {}  # ident -> (new row?, job, doc)
                for job in jobs:
                    ident = (job.rule.id, job.key)
                    original = docs.get(ident)
                    fresh = original is None and ident not in moved
                    base = tracks.new_document(job.rule.evaluator) if original is None else original
                    doc = tracks.copy_document(base)
                    produced: list[Routed] = []
                    try:
                        evaluated, duplicates = job.run(doc, produced.extend)
                    except Exception:
                        outcome.errors += 1
                        self.stats["evaluation_errors"] += 1
                        log.exception("rule %s failed on %s; its state is left as it was", job.rule.name, job.key)
                        if fresh:
                            moved[ident] = (True, job, base)  # a new key is stored at its start, as alone
                            docs[ident] = base
                        continue
                    if produced:
                        self._write_documents(session, moved, applier.now)
                        moved.clear()
                        row = session.get(RuleState, ident, populate_existing=True)
                        rows = {ident: row} if row is not None else {}
                        self.run_job(session, applier, rows, job, outcome)
                        session.flush()
                        if ident in rows:
                            docs[ident] = rows[ident].data
                        continue
                    outcome.evaluated += evaluated
                    outcome.duplicates += duplicates
                    # A reading that was not a duplicate moved the document (its newest time or
                    # its backfill track); duplicates alone leave it exactly as it was.
                    if fresh or evaluated:
                        moved[ident] = (fresh or moved.get(ident, (False,))[0], job, doc)
                        docs[ident] = doc
                self._write_documents(session, moved, applier.now)
        except SQLAlchemyError as exc:
            self.stats["store_errors"] += 1
            raise RuleStoreError(f"rules engine transaction failed: {exc.__class__.__name__}: {exc}") from exc
        self.after_commit(outcome)
        return outcome

    @staticmethod
    def _write_documents(session: Session, moved: dict[tuple[int, str], tuple[bool, Job, dict]],
                         now: Any) -> None:
        """Store the states in ``moved``: new keys inserted, the others updated, in bulk."""
        if not moved:
            return
        added, changed = [], []
        for (rule_id, key), (fresh, job, doc) in moved.items():
            active = tracks.is_active(job.rule.evaluator, doc)
            if fresh:
                subject = job.subject
                added.append({"rule_id": rule_id, "key": key, "subject": subject.key, "gateway": subject.gateway,
                              "channel": subject.channel, "asset": subject.asset, "active": active,
                              "last_ts_ms": doc.get("last"), "data": doc, "updated_at": now})
            else:
                changed.append((rule_id, key, doc, active, doc.get("last")))
        states.insert(session, added)
        states.update(session, changed, now)

    def run_job(self, session: Session, applier: Applier, rows: dict, job: Job, outcome: Outcome) -> None:
        ident = (job.rule.id, job.key)
        row = rows.get(ident)
        if row is None:
            row = rows[ident] = RuleState(rule_id=job.rule.id, key=job.key, subject=job.subject.key,
                                          gateway=job.subject.gateway, channel=job.subject.channel,
                                          asset=job.subject.asset, active=False,
                                          data=tracks.new_document(job.rule.evaluator), updated_at=applier.now)
            session.add(row)
        original = row.data
        # Most inputs change a state and nothing else. Evaluators are pure, so the job first runs
        # without touching the database; only when it produced actions is it run again for real,
        # applying them as it goes, inside a savepoint that a failing rule rolls back alone.
        doc = tracks.copy_document(original)
        produced: list[Routed] = []
        try:
            evaluated, duplicates = job.run(doc, produced.extend)
            if produced:
                doc = tracks.copy_document(original)
                with session.begin_nested():
                    evaluated, duplicates = job.run(doc, self._applying(session, applier, row, job, doc))
                    self._store(row, job, doc, applier)
                    session.flush()
            elif doc != original:
                self._store(row, job, doc, applier)
        except SQLAlchemyError:
            raise
        except Exception:
            outcome.errors += 1
            self.stats["evaluation_errors"] += 1
            log.exception("rule %s failed on %s; its state is left as it was", job.rule.name, job.key)
            return
        outcome.evaluated += evaluated
        outcome.duplicates += duplicates

    @staticmethod
    def _applying(session: Session, applier: Applier, row: RuleState, job: Job, doc: dict):
        def apply(routed: list[Routed]) -> None:
            if not routed:
                return
            # Save the state first, so the applier sees this key's own activity when it checks
            # whether another channel still holds the subject's condition.
            row.active = tracks.is_active(job.rule.evaluator, doc)
            session.flush()
            for r in routed:
                applier.apply(job.rule, job.subject, r, doc, job.key)
        return apply

    @staticmethod
    def _store(row: RuleState, job: Job, doc: dict, applier: Applier) -> None:
        row.data = doc  # a fresh copy, never shared with another row
        row.active = tracks.is_active(job.rule.evaluator, doc)
        row.last_ts_ms = doc.get("last")
        row.updated_at = applier.now

    @staticmethod
    def _load_states(session: Session, idents: set[tuple[int, str]]) -> dict[tuple[int, str], RuleState]:
        rows: dict[tuple[int, str], RuleState] = {}
        by_rule: dict[int, list[str]] = defaultdict(list)
        for rule_id, key in idents:
            by_rule[rule_id].append(key)
        for keys in by_rule.values():
            keys.sort()
        for rule_id, keys in sorted(by_rule.items()):
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                # FOR UPDATE: two ingest workers on PostgreSQL evaluating the same key must take
                # turns, or the second would overwrite the first's state (SQLite serialises anyway).
                for row in session.scalars(select(RuleState).where(RuleState.rule_id == rule_id,
                                                                   RuleState.key.in_(chunk))
                                           .order_by(RuleState.key).with_for_update()):
                    rows[(row.rule_id, row.key)] = row
        return rows

    def after_commit(self, outcome: Outcome) -> None:
        """Count a committed call's outcome; wake the notifier when it queued notifications."""
        for name in ("opened", "historical", "promoted", "resolved", "escalated", "work_orders",
                     "notifications", "errors", "duplicates", "evaluated"):
            self.stats[name] += getattr(outcome, name)
        if outcome.notifications and self.dispatcher is not None:
            self.dispatcher.kick()
