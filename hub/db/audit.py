"""The tamper-evident audit chain.

Each row's ``row_hash`` covers its canonical JSON content, which includes the previous row's
hash, so changing or deleting any row breaks every hash after it. From the row recorded in
``audit_chain_keys`` on, the hash is an HMAC-SHA256 under a key kept outside the database
(``audit_key_file``, see :mod:`wardlink.hub.db.audit_key`): someone who can write to the database but
not read that file cannot recompute the chain after editing a row. Rows written before the
chain was keyed keep their plain SHA-256 and verify as before.

:func:`check_chain` recomputes the chain, names the first row that no longer fits, and checks
that the append-only triggers are still in place. What a chain alone cannot reveal is the
removal of its newest rows; :func:`chain_head` returns the values to record elsewhere (a
report, a file copied off the machine) to detect that as well.
Rows are appended under a lock (PostgreSQL advisory lock; SQLite's single writer) so two
writers can never chain onto the same parent.

The key is found by database URL: a process that loads it (:func:`register_key`) keys every
append it makes to that database, whichever engine makes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from collections.abc import Mapping

from sqlalchemy import select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from wardlink.hub.db.models.audit import AuditChainKey, AuditLog
from wardlink.hub.errors import StoreError

GENESIS_HASH = "0" * 64
# An arbitrary constant that names the audit chain's PostgreSQL advisory lock.
_PG_LOCK_KEY = 0x5741524C_41554454


def to_jsonable(value: Any) -> Any:
    """Return ``value`` with dates, decimals and sets turned into JSON-safe forms."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def canonical_json(value: Any) -> str:
    """Return the one canonical JSON text of ``value`` (sorted keys, no spaces)."""
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


#: The append-only triggers that must exist, per dialect: (table, trigger name).
TRIGGERS = {
    "sqlite": (("audit_log", "audit_log_no_update"), ("audit_log", "audit_log_no_delete"),
               ("audit_chain_keys", "audit_chain_keys_no_update"),
               ("audit_chain_keys", "audit_chain_keys_no_delete")),
    "postgresql": (("audit_log", "audit_log_append_only"), ("audit_log", "audit_log_no_truncate"),
                   ("audit_chain_keys", "audit_chain_keys_append_only"),
                   ("audit_chain_keys", "audit_chain_keys_no_truncate")),
}
_KEY_CHECK_TEXT = b"wardlink audit chain key check v1"
_KEYS: dict[str, bytes] = {}


def _url_key(url: str | URL) -> str:
    parsed = make_url(url)
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=False)


def register_key(url: str | URL, key: bytes | None) -> None:
    """Key every audit row this process appends to the database at ``url`` with ``key``
    (None: forget the key)."""
    if key is None:
        _KEYS.pop(_url_key(url), None)
    else:
        _KEYS[_url_key(url)] = key


def session_key(session: Session) -> bytes | None:
    """Return the audit key registered for the database of ``session``, or None."""
    bind = session.get_bind()
    return _KEYS.get(_url_key(getattr(bind, "engine", bind).url))


def key_check(key: bytes) -> str:
    """Return the check value of ``key`` that ``audit_chain_keys`` records."""
    return hmac.new(key, _KEY_CHECK_TEXT, hashlib.sha256).hexdigest()


def row_digest(row: AuditLog, key: bytes | None = None) -> str:
    """Return the hash that ``row`` must carry, computed from its content and parent hash:
    HMAC-SHA256 under ``key`` when given, else plain SHA-256."""
    content = {
        "seq": row.seq,
        "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": row.actor_id,
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "before": row.before_json,
        "after": row.after_json,
        "source_ip": row.source_ip,
        "prev_hash": row.prev_hash,
    }
    data = canonical_json(content).encode()
    if key is not None:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


#: The chain's tail and where it became keyed, in one statement: the newest row's seq and hash
#: and the keyed start's key check (each None when there is none). Built once: an append happens
#: in the transaction of nearly every change, and building the statement costs more than running it.
_TAIL = select(
    select(AuditLog.seq).order_by(AuditLog.seq.desc()).limit(1).scalar_subquery().label("seq"),
    select(AuditLog.row_hash).order_by(AuditLog.seq.desc()).limit(1).scalar_subquery().label("row_hash"),
    select(AuditChainKey.key_check).order_by(AuditChainKey.from_seq).limit(1).scalar_subquery().label("key_check"),
)


def append(session: Session, *, at: datetime, actor: str, actor_id: int | None, action: str,
           entity: str, entity_id: str, before: Any = None, after: Any = None,
           source_ip: str | None = None) -> AuditLog:
    """Append one row to the chain in the session's transaction and return it."""
    _lock_chain(session)
    # Read after the lock, in a statement of its own: on PostgreSQL a statement sees the rows
    # committed when it began, so a read in the locking statement could miss the row of the
    # writer that held the lock before us and chain onto its parent.
    tail = session.execute(_TAIL).one()
    seq, prev_hash = (tail.seq + 1, tail.row_hash) if tail.seq is not None else (1, GENESIS_HASH)
    key = _checked_key(session, tail.key_check, seq, at)
    # Round to microseconds now: both stores keep that precision, so the hash survives a reload.
    row = AuditLog(
        seq=seq, at=at.astimezone(UTC), actor=actor[:100], actor_id=actor_id, action=action,
        entity=entity, entity_id=str(entity_id)[:128],
        before_json=None if before is None else canonical_json(before),
        after_json=None if after is None else canonical_json(after),
        source_ip=source_ip, prev_hash=prev_hash,
    )
    row.row_hash = row_digest(row, key)
    session.add(row)
    session.flush()
    return row


def keyed_start(session: Session) -> AuditChainKey | None:
    """Return the record of where the chain became keyed, or None while it is not keyed."""
    return session.scalars(select(AuditChainKey).order_by(AuditChainKey.from_seq).limit(1)).first()


def _key_for_append(session: Session, seq: int, at: datetime) -> bytes | None:
    """Return the key for row ``seq``; record the keyed start when this is the first keyed row."""
    start = keyed_start(session)
    return _checked_key(session, start.key_check if start is not None else None, seq, at)


def _checked_key(session: Session, started_with: str | None, seq: int, at: datetime) -> bytes | None:
    """Return the key for row ``seq`` of a chain keyed under the key check ``started_with``
    (None: not keyed yet); record the keyed start when this is the first keyed row.

    Refuses (rather than write a row that would never verify) when the chain is keyed and
    this process has no key, or a different one.
    """
    key = session_key(session)
    if started_with is None:
        if key is not None:
            session.add(AuditChainKey(from_seq=seq, key_check=key_check(key), created_at=at.astimezone(UTC)))
        return key
    if key is None:
        raise StoreError("the audit chain is keyed: this process has no audit key (audit_key_file), "
                         "so it cannot add audit rows")
    if not hmac.compare_digest(started_with, key_check(key)):
        raise StoreError("the audit key (audit_key_file) is not the key the audit chain is keyed "
                         "with: give every hub process the same key file")
    return key


def ensure_keyed(session: Session) -> AuditChainKey | None:
    """Record now that the chain is keyed from its next row, if a key is registered and the
    chain is not keyed yet; return the keyed start (None without a key)."""
    _lock_chain(session)
    if session_key(session) is None:
        return keyed_start(session)
    last = session.scalar(select(AuditLog.seq).order_by(AuditLog.seq.desc()).limit(1))
    _key_for_append(session, (last or 0) + 1, datetime.now(UTC))
    session.flush()
    return keyed_start(session)


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of :func:`check_chain`."""

    #: Id of the first row that does not verify, or None.
    broken_id: int | None
    #: What is wrong, one sentence each (empty when intact).
    problems: tuple[str, ...]
    rows: int
    keyed_from: int | None

    @property
    def intact(self) -> bool:
        """True when every row verifies and every guard is in place."""
        return not self.problems


def missing_triggers(session: Session) -> list[str]:
    """Return the append-only triggers that were dropped or disabled, as ``table.trigger``."""
    dialect = session.get_bind().dialect.name
    wanted = TRIGGERS.get(dialect, ())
    if dialect == "postgresql":
        rows = session.execute(text(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'"))
    else:
        rows = session.execute(text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"))
    present = {(table, name) for table, name in rows}
    return [f"{table}.{name}" for table, name in wanted if (table, name) not in present]


def check_chain(session: Session, key: bytes | None = None) -> ChainCheck:
    """Recompute the chain with ``key`` (default: the key registered for this database) and
    check the append-only triggers; see :class:`ChainCheck`."""
    key = session_key(session) if key is None else key
    problems: list[str] = []
    missing = missing_triggers(session)
    if missing:
        problems.append("append-only trigger(s) missing or disabled: " + ", ".join(missing))
    start = keyed_start(session)
    keyed_from = start.from_seq if start is not None else None
    if start is not None and key is None:
        problems.append(f"the chain is keyed from row {keyed_from} but no audit key is available "
                        "(audit_key_file): its rows cannot be verified")
    elif start is not None and not hmac.compare_digest(start.key_check, key_check(key)):
        problems.append(f"the audit key is not the key the chain is keyed with (from row {keyed_from})")
        key = None
    broken = None
    expected_seq, expected_prev, count = 1, GENESIS_HASH, 0
    rows = session.execute(select(AuditLog).order_by(AuditLog.seq).execution_options(yield_per=500))
    for row in rows.scalars():
        count += 1
        keyed = keyed_from is not None and row.seq >= keyed_from
        if keyed and key is None:
            broken = row.id
            break
        if (row.seq != expected_seq or row.prev_hash != expected_prev
                or not hmac.compare_digest(row_digest(row, key if keyed else None), row.row_hash)):
            broken = row.id
            problems.append(f"row id {row.id} (seq {row.seq}) was changed, inserted out of order or "
                            "follows a deleted row")
            break
        expected_seq, expected_prev = row.seq + 1, row.row_hash
    if start is None and key is not None and count:
        problems.append("an audit key exists but the chain records no keyed start: no hub process "
                        "holding the key has opened this database yet, or the record was removed")
    return ChainCheck(broken, tuple(problems), count, keyed_from)


def verify_chain(session: Session) -> int | None:
    """Return the id of the first row that was changed, inserted out of order or follows a
    deleted row (or that cannot be verified without the key); None when the chain is intact."""
    return check_chain(session).broken_id


@dataclass(frozen=True)
class ChainHead:
    """The newest link of the chain: record it elsewhere to detect truncation later."""

    seq: int
    row_hash: str
    at: datetime | None


def chain_head(session: Session) -> ChainHead:
    """Return the newest row's sequence number and hash (0 and the genesis hash when empty)."""
    last = session.execute(
        select(AuditLog.seq, AuditLog.row_hash, AuditLog.at).order_by(AuditLog.seq.desc()).limit(1)
    ).first()
    return ChainHead(last.seq, last.row_hash, last.at) if last else ChainHead(0, GENESIS_HASH, None)
