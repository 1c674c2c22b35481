"""The ingest worker's rows in the relational store: dead letters, events, gateway state, worker stats.

:class:`IngestRecords` writes everything one batch produced in a single transaction, and gives
the web UI read access (:meth:`IngestRecords.dead_letters`, :meth:`IngestRecords.events`,
:meth:`IngestRecords.gateways`, :meth:`IngestRecords.workers`).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from wardlink.hub.db.engine import database_place, failure_reason
from wardlink.hub.db.migrate import check_current
from wardlink.hub.db.models.ingest import workers
from wardlink.hub.errors import StoreError
from wardlink.hub.ingest import deadletter, events, gateways, sequence
from wardlink.hub.ingest.deadletter import DeadLetter
from wardlink.hub.ingest.dialect import INSERTS
from wardlink.hub.ingest.events import EventRow
from wardlink.hub.services.gateways.ingest_records import (DeadLetterRow, GatewayRecord, WorkerRow, list_dead_letters,
                                          list_gateways, list_workers)
from wardlink.hub.telemetry.model import StoreRejected, StoreUnavailable


_T = TypeVar("_T")


def _translate(exc: SQLAlchemyError, doing: str, engine: Engine) -> StoreError:
    text = f"relational store: {doing}: {type(exc).__name__}: {exc}"
    if isinstance(exc, (IntegrityError, DataError)):
        return StoreRejected(text)  # these rows will be refused again
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return StoreRejected(text)  # a value could not be bound (SQLAlchemy or the driver refused it)
    # Connection lost, database locked, server down: one line naming the server, for the log.
    place = database_place(engine.url.render_as_string(hide_password=True))
    return StoreUnavailable(f"relational store ({place.removeprefix('the database ')}): {doing}: "
                            f"{failure_reason(exc)}")


class IngestRecords:
    """Read and write the ingest tables through an SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, start: bool = True) -> None:
        """Use ``engine``; with ``start`` (a worker starting), check the schema is migrated first.

        The tables come from the migrations (``wardlink db upgrade``): a database that is not at
        the newest revision raises :class:`StoreError` saying so, and nothing is created here.
        """
        name = engine.dialect.name
        if name not in INSERTS:
            raise StoreError(f"relational store: ingest tables need SQLite or PostgreSQL, got {name}")
        self.engine = engine
        self._insert = INSERTS[name]
        if start:
            try:
                check_current(engine)
            except SQLAlchemyError as exc:
                raise _translate(exc, "check the schema revision", engine) from exc
            try:
                sequence.adopt(engine, round(time.time() * 1000))
            except SQLAlchemyError as exc:
                raise _translate(exc, "start batch sequences", engine) from exc

    def commit(self, *, dead: Sequence[DeadLetter] = (), event_rows: Sequence[dict] = (),
               gateway_rows: Sequence[dict] = (), worker: dict | None = None,
               sequences: tuple[Sequence, Sequence] = ((), ()), now_ms: int = 0) -> None:
        """Write one batch's dead letters, events, gateway rows and worker counters atomically.

        ``sequences`` is (batches seen, status claims) from :func:`wardlink.hub.ingest.sequence.observations`,
        merged into the batch-sequence rows at ``now_ms`` (wall-clock ms) in the same transaction.
        """
        if not (dead or event_rows or gateway_rows or worker or sequences[0] or sequences[1]):
            return
        from wardlink.hub.db.engine import session_scope  # SQLite write transactions begin IMMEDIATE there

        try:
            with session_scope(self.engine) as session:
                deadletter.store(session, self._insert, dead)
                events.store(session, self._insert, event_rows)
                gateways.store(session, self._insert, list(gateway_rows))
                sequence.store(session, self._insert, sequences[0], sequences[1], now_ms)
                if worker is not None:
                    stmt = self._insert(workers)
                    stmt = stmt.on_conflict_do_update(
                        index_elements=[workers.c.client_id],
                        set_={k: stmt.excluded[k] for k in worker if k != "client_id"})
                    session.execute(stmt, [worker])
        except SQLAlchemyError as exc:
            raise _translate(exc, "commit ingest records", self.engine) from exc
        except (OverflowError, ValueError, TypeError) as exc:  # a value the driver cannot bind
            raise StoreRejected(f"relational store: commit ingest records: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------------ reading

    def dead_letters(self, *, reason: str | None = None, gateway: str | None = None,
                     limit: int = 100, offset: int = 0) -> list[DeadLetterRow]:
        """Return dead letters, most recently received first."""
        return self._read(list_dead_letters, "read dead letters", reason=reason, gateway=gateway,
                          limit=limit, offset=offset)

    def events(self, **filters: Any) -> list[EventRow]:
        """Return events newest first (filters: gateway, asset, types, start_ms, end_ms, limit)."""
        return self._read(events.list_events, "read events", **filters)

    def gateways(self, gateway: str | None = None) -> list[GatewayRecord]:
        """Return what the wire said about each gateway (one, when ``gateway`` is given)."""
        return self._read(list_gateways, "read gateway state", gateway)

    def sequences(self, gateway: str | None = None) -> list[dict]:
        """Return each gateway boot's batch-sequence row: what arrived, what is missing, what was asked for."""
        return self._read(sequence.list_sequences, "read batch sequences", gateway)

    def check_sequences(self, now_ms: int, policy: sequence.SequencePolicy) -> list[sequence.ResendRequest]:
        """Claim the resend requests due at ``now_ms`` (wall-clock ms); give up hopeless gaps."""
        try:
            return sequence.check(self.engine, now_ms, policy)
        except StoreError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def workers(self) -> list[WorkerRow]:
        """Return the counters every ingest worker last published."""
        return self._read(list_workers, "read worker counters")

    def _read(self, func: Callable[..., _T], doing: str, *args: Any, **kwargs: Any) -> _T:
        try:
            return func(self.engine, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise _translate(exc, doing, self.engine) from exc
