"""Gaps in each gateway's telemetry batch sequence, found across workers and asked for again.

Why: a gateway deletes a reading once the broker acknowledged it, but a broker that crashes
(``kill -9``, power loss, OOM kill) loses what it acknowledged since it last saved its
persistence. The gateway keeps acknowledged readings for a while (its resend window) and
re-publishes them on ``resend-from``; this module decides when to ask.

Each telemetry batch carries the gateway's ``boot`` id and a ``seq`` counting from 0 per boot.
For every (gateway, boot) one row of ``ingest_batch_sequence`` says which seqs arrived: all of
them through ``through``, the ranges in ``received`` above it, and ``high``, the newest seq
known to exist (received, or stated by the gateway's status as ``last_seq``, so batches lost
after the last one the hub saw are noticed while the gateway is quiet). Everything between
``through`` and ``high`` not received is missing. A new boot starts at ``through = -1``: when
its first batch seen is not seq 0, the earlier ones are missing.

The rows live in the relational database, updated in the same transaction that records the
batches (one locked read and one write per gateway boot per commit, not per reading), so N
workers of a shared group, each dealt a share of a gateway's batches, build one picture
together, and a worker restart loses nothing. A periodic :func:`check` (every worker runs it;
the row update that claims a request makes sure only one of them sends it) finds seqs missing
for longer than a grace period, when a batch is merely on its way through another worker,
and asks the gateway with ``resend-from`` (``seq`` = the lowest missing, ``until`` = the
highest, ``boot``) at most once per interval, while the gateway's status says it is online.
The gateway re-publishes those batches under their original boot and seq, which fills the
row; the store's key makes the copies harmless.
After ``max_requests`` requests in a row that recover nothing, or once a newer boot of the
gateway has taken over (an earlier boot's batches can no longer be re-sent), the missing seqs
are given up: counted, and written as a ``hub.sequence_lost`` event on the gateway's timeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence, cast

from sqlalchemy import BigInteger, Engine, bindparam, literal, select, tuple_, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from wardlink.hub.db.models.ingest import batch_sequence as table
from wardlink.hub.db.models.gateways import GatewayLink
from wardlink.hub.errors import StoreError
from wardlink.hub.ingest import events
from wardlink.hub.ingest.dialect import INSERTS, InsertFunction
from wardlink.hub.ingest.items import Item, ItemKind
from wardlink.protocol import Status, TelemetryBatch

SEQUENCE_LOST = "hub.sequence_lost"
_NOTE_IDX = -4  # hub notes use negative positions (see wardlink.hub.ingest.gateways)
#: Disjoint ranges kept above ``through``; beyond it the lowest gaps are given up.
MAX_RANGES = 256
_COLUMNS = [c.name for c in table.columns]
_UPDATE = update(table).where(table.c.gateway == bindparam("k_gateway"), table.c.boot == bindparam("k_boot"))


@dataclass(frozen=True, slots=True)
class ResendRequest:
    """Ask ``gateway`` to re-send batches ``seq``..``until`` of ``boot``."""

    gateway: str
    boot: str
    seq: int
    until: int
    missing: int


@dataclass(frozen=True, slots=True)
class SequencePolicy:
    """When to ask for missing batches again, and when to stop asking."""

    grace_s: float = 30.0  # a seq missing for less may still be on its way through another worker
    interval_s: float = 60.0  # at most one resend-from per gateway boot per interval
    max_requests: int = 5  # requests in a row that recover nothing before the gap is given up


def observations(items: Iterable[Item]) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    """Return (batches seen, status claims) as (gateway, boot, seq) from ingest items.

    A stored telemetry batch counts as seen; a status counts when it states ``last_seq``.
    Dead letters count for nothing: a row the database refused must not be written again here.
    """
    seen, claims = [], []
    for item in items:
        if item.outcome is ItemKind.DEAD:
            continue
        msg = item.message
        if isinstance(msg, TelemetryBatch):
            seen.append((msg.gateway, msg.boot, msg.seq))
        elif isinstance(msg, Status) and msg.last_seq is not None and msg.state == "online":
            claims.append((msg.gateway, msg.boot, msg.last_seq))
    return seen, claims


def store(session: Session, insert: InsertFunction, seen: Sequence[tuple[str, str, int]],
          claims: Sequence[tuple[str, str, int]], now_ms: int) -> None:
    """Merge seqs seen and stated into their rows, in the caller's transaction."""
    wanted: dict[tuple[str, str], tuple[list[int], int]] = {}
    for gateway, boot, seq in seen:
        wanted.setdefault((gateway, boot), ([], -1))[0].append(seq)
    for gateway, boot, seq in claims:
        seqs, claim = wanted.get((gateway, boot), ([], -1))
        wanted[(gateway, boot)] = (seqs, max(claim, seq))
    if not wanted:
        return
    keys = sorted(wanted)  # one lock order for every worker: no deadlock between them
    rows = _lock(session, keys)
    fresh = [k for k in keys if k not in rows]
    if fresh:
        session.execute(insert(table).on_conflict_do_nothing(index_elements=[table.c.gateway, table.c.boot]),
                        [_new_row(g, b, now_ms) for g, b in fresh])
        rows.update(_lock(session, fresh))
    quick, full = [], []
    for key in keys:
        row = rows[key]
        seqs, claim = wanted[key]
        change = _merge(row, seqs, claim, now_ms)
        if change == "quick":
            quick.append({"through": row["through"], "high": row["high"], "updated_ms": row["updated_ms"],
                          "k_gateway": row["gateway"], "k_boot": row["boot"]})
        elif change == "full":
            full.append(_params(row))
    for params in (quick, full):
        if params:
            session.connection().execute(_UPDATE, params)


def check(engine: Engine, now_ms: int, policy: SequencePolicy) -> list[ResendRequest]:
    """Claim and return the resend requests due now; give up what can no longer come back."""
    from wardlink.hub.db.engine import session_scope  # SQLite write transactions begin IMMEDIATE there

    grace_ms, interval_ms = round(policy.grace_s * 1000), round(policy.interval_s * 1000)
    requests: list[ResendRequest] = []
    insert = INSERTS[engine.dialect.name]
    due_now = table.c.missing_since_ms <= now_ms - grace_ms
    try:
        with engine.connect() as conn:  # the usual answer, "nothing", without a write transaction
            if conn.execute(select(table.c.gateway).where(due_now).limit(1)).first() is None:
                return []
        with session_scope(engine) as session:
            due = [dict(r._mapping) for r in session.execute(
                select(table).where(due_now).order_by(table.c.gateway, table.c.boot).with_for_update())]
            if not due:
                return []
            current = _current_boots(session, {r["gateway"] for r in due})
            offline = {g for g, state in session.execute(
                select(GatewayLink.gateway, GatewayLink.state)
                .where(GatewayLink.gateway.in_(sorted(current)))) if state == "offline"}
            notes: list[dict] = []
            for row in due:
                latest_boot, latest_ms = current[row["gateway"]]
                if row["boot"] != latest_boot:
                    # A newer boot took over: this one's batches can no longer be re-sent.
                    if row["updated_ms"] < latest_ms - grace_ms:
                        notes.append(_give_up(row, now_ms, "the gateway restarted since"))
                        _save(session, row)
                    continue
                if row["gateway"] in offline:
                    continue  # asked when it is back: its resend window keeps the batches meanwhile
                if row["requested_ms"] is not None and row["requested_ms"] > now_ms - interval_ms:
                    continue
                if row["missing"] < row["missing_at_request"]:
                    row["requests"] = 0  # the last request brought some back: keep asking
                if row["requests"] >= policy.max_requests:
                    notes.append(_give_up(row, now_ms, f"{row['requests']} resend-from requests brought "
                                                       "nothing back (older than the gateway's resend window?)"))
                    _save(session, row)
                    continue
                claimed = session.execute(
                    update(table).where(table.c.gateway == row["gateway"], table.c.boot == row["boot"],
                                        (table.c.requested_ms.is_(None))
                                        | (table.c.requested_ms <= now_ms - interval_ms))
                    .values(requested_ms=now_ms, requests=row["requests"] + 1,
                            resend_requests=table.c.resend_requests + 1, missing_at_request=row["missing"]))
                if cast(CursorResult[Any], claimed).rowcount == 1:
                    lo, hi = _missing_span(row)
                    requests.append(ResendRequest(row["gateway"], row["boot"], lo, hi, row["missing"]))
            events.store(session, insert, notes)
    except SQLAlchemyError as exc:
        raise StoreError(f"relational store: check batch sequences: {type(exc).__name__}: {exc}") from exc
    return requests


def adopt(engine: Engine, now_ms: int) -> None:
    """Start a sequence row at the newest seq already recorded for each gateway that has none.

    A hub upgraded to sequence tracking has gateways in the middle of a boot: without this their
    first batch seen would make every earlier seq of the boot look missing, and each gateway
    would be asked for its whole resend window at once. Idempotent; run when a worker starts.
    """
    gs = GatewayLink.__table__
    fresh = (select(gs.c.gateway, gs.c.boot, gs.c.telemetry_seq, gs.c.telemetry_seq, literal("[]"), literal(0),
                    literal(None, BigInteger), literal(now_ms), literal(now_ms), literal(None, BigInteger),
                    literal(0), literal(0), literal(0), literal(0), literal(0))
             .where(gs.c.boot.is_not(None), gs.c.telemetry_seq.is_not(None),
                    ~select(table.c.gateway).where(table.c.gateway == gs.c.gateway).exists()))
    stmt = INSERTS[engine.dialect.name](table).from_select(_COLUMNS, fresh).on_conflict_do_nothing(
        index_elements=[table.c.gateway, table.c.boot])
    with engine.begin() as conn:
        conn.execute(stmt)


def list_sequences(engine: Engine, gateway: str | None = None) -> list[dict]:
    """Return the sequence rows (one gateway's, when given), newest boot first per gateway."""
    stmt = select(table).order_by(table.c.gateway, table.c.updated_ms.desc())
    if gateway is not None:
        stmt = stmt.where(table.c.gateway == gateway)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


# ---------------------------------------------------------------------- internals


def _lock(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    stmt = (select(table).where(tuple_(table.c.gateway, table.c.boot).in_(keys))
            .order_by(table.c.gateway, table.c.boot).with_for_update())
    return {(r.gateway, r.boot): dict(r._mapping) for r in session.execute(stmt)}


def _new_row(gateway: str, boot: str, now_ms: int) -> dict:
    return {"gateway": gateway, "boot": boot, "through": -1, "high": -1, "received": "[]", "missing": 0,
            "missing_since_ms": None, "first_seen_ms": now_ms, "updated_ms": now_ms, "requested_ms": None,
            "requests": 0, "missing_at_request": 0, "resend_requests": 0, "recovered": 0, "given_up": 0}


def _params(row: dict) -> dict:
    values = {k: row[k] for k in _COLUMNS if k not in ("gateway", "boot")}
    values["k_gateway"], values["k_boot"] = row["gateway"], row["boot"]
    return values


def _save(session: Session, row: dict) -> None:
    session.connection().execute(_UPDATE, [_params(row)])


def _merge(row: dict, seqs: list[int], claim: int, now_ms: int) -> str | None:
    """Add received ``seqs`` and a stated newest seq ``claim`` to ``row`` (a dict, changed in place).

    Return None when nothing new was learnt (duplicates: ``updated_ms`` stays, so a status or
    batch of an earlier boot delivered again does not make that boot look current), "quick"
    when only ``through``, ``high`` and ``updated_ms`` changed (nothing missing), else "full".
    """
    through, high = row["through"], row["high"]
    if not row["missing"] and row["received"] == "[]":  # nothing missing: the usual case, made cheap
        fresh = sorted(s for s in set(seqs) if s > through)
        top = fresh[-1] if fresh else through
        if (not fresh or (fresh[0] == through + 1 and top - through == len(fresh))) and claim <= top:
            if not fresh:
                return None
            row.update(through=top, high=top, updated_ms=max(row["updated_ms"], now_ms))
            return "quick"
    ranges: list[list[int]] = json.loads(row["received"])
    added = []
    for seq in set(seqs):
        if seq <= through or any(lo <= seq <= hi for lo, hi in ranges):
            continue  # a duplicate: at-least-once delivery
        if seq < high and row["requests"]:
            row["recovered"] += 1  # missing, asked for, and back
        added.append([seq, seq])
        high = max(high, seq)
    if not added and claim <= high:
        return None
    high = max(high, claim)
    if added:
        ranges = _union(ranges + added)
    while ranges and ranges[0][0] <= through + 1:
        through = max(through, ranges.pop(0)[1])
    while len(ranges) > MAX_RANGES:  # a pathological pattern: give up the lowest gap
        row["given_up"] += ranges[0][0] - through - 1
        through = ranges.pop(0)[1]
    missing = high - through - sum(hi - lo + 1 for lo, hi in ranges)
    row.update(through=through, high=high, received=json.dumps(ranges, separators=(",", ":")), missing=missing,
               updated_ms=max(row["updated_ms"], now_ms))
    if missing <= 0:
        row.update(missing_since_ms=None, requests=0, missing_at_request=0, requested_ms=None)
    elif row["missing_since_ms"] is None:
        row["missing_since_ms"] = now_ms
    return "full"


def _union(ranges: list[list[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def _missing_span(row: dict) -> tuple[int, int]:
    """Return the lowest and the highest missing seq of ``row``."""
    ranges = json.loads(row["received"])
    hi = row["high"]
    if ranges and ranges[-1][1] == hi:
        hi = ranges[-1][0] - 1
    return row["through"] + 1, hi


def _current_boots(session: Session, gateways: set[str]) -> dict[str, tuple[str, int]]:
    """Return each gateway's boot heard from most recently, with when."""
    out: dict[str, tuple[str, int]] = {}
    stmt = (select(table.c.gateway, table.c.boot, table.c.updated_ms).where(table.c.gateway.in_(sorted(gateways)))
            .order_by(table.c.gateway, table.c.updated_ms, table.c.first_seen_ms))
    for gateway, boot, updated_ms in session.execute(stmt):
        out[gateway] = (boot, updated_ms)  # ascending: the last one wins
    return out


def _give_up(row: dict, now_ms: int, why: str) -> dict:
    lo, hi = _missing_span(row)
    count = row["missing"]
    row["given_up"] += count
    row.update(through=row["high"], received="[]", missing=0, missing_since_ms=None, requests=0,
               missing_at_request=0)
    return {"gateway": row["gateway"], "boot": row["boot"], "seq": lo, "idx": _NOTE_IDX, "ts_ms": now_ms,
            "type": SEQUENCE_LOST, "severity": "warning", "channel": None, "asset": None,
            "data": {"topic": "telemetry", "first_missing": lo, "last_missing": hi, "count": count,
                     "reason": why},
            "received_ms": now_ms}
