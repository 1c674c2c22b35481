"""Read and write rule states by the thousand: what the engine does on every telemetry call.

At 25,000 readings/s a hub moves thousands of rule states a second. Through the ORM, or
even SQLAlchemy Core's ``executemany``, each row costs tens of microseconds of Python; here:

- :func:`load` selects the documents of many keys, up to a few hundred keys per statement, as
  JSON text that is parsed here (by orjson when installed); the statement comes in a few IN
  list sizes, each compiled once per dialect, so a call for a handful of keys (one gateway
  message) does not bind hundreds of parameters;
- :func:`update` runs one ``UPDATE ... WHERE rule_id = ? AND key = ?`` for all changed
  states: compiled once per dialect, the documents serialised here, the timestamp column's
  own bind processor run once per call, and the driver given plain tuples;
- :func:`insert` adds the states of keys never seen (rare after start-up) through Core.

Rows stay exactly what the ORM model (:class:`wardlink.hub.db.models.rules.RuleState`) reads and writes.
"""

from __future__ import annotations

import json
from operator import itemgetter
from typing import Any, Iterable, Sequence

from sqlalchemy import Text, bindparam, cast, select
from sqlalchemy import insert as sql_insert
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from wardlink.hub.db.models.rules import RuleState

try:  # optional: several times faster for the small documents states are
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    orjson = None

#: Keys per SELECT (an IN list); SQLite allows far more parameters, PostgreSQL any number.
CHUNK = 500
#: The IN list sizes compiled: a chunk is padded (its last key repeated) to the next one.
SELECT_SIZES = (4, 16, 64, CHUNK)

_TABLE = RuleState.__table__
_UPDATES: dict[str, tuple[str, tuple[str, ...] | None, Any]] = {}  # dialect -> (sql, order, ts processor)
_SELECTS: dict[tuple[str, int], tuple[str, tuple[str, ...] | None]] = {}  # (dialect, size) -> (sql, order)


def dumps(doc: Any) -> str:
    """Return ``doc`` as JSON text."""
    if orjson is not None:
        try:
            return orjson.dumps(doc).decode()
        except TypeError:  # e.g. integer keys, which the json module turns into strings
            pass
    return json.dumps(doc, separators=(",", ":"))


def loads(text: str | bytes | Any) -> Any:
    """Parse a stored document (drivers that already parsed it hand over the object)."""
    if not isinstance(text, (str, bytes)):
        return text
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # NaN written by the json module, which orjson refuses
            pass
    return json.loads(text)


def load(session: Session, idents: Iterable[tuple[int, str]]) -> dict[tuple[int, str], dict]:
    """Return the stored documents of ``idents`` (keys never stored are absent), locking the rows.

    Rows are locked FOR UPDATE in (rule, key) order, so two ingest workers on PostgreSQL that
    evaluate the same key take turns; SQLite serialises writers anyway.
    """
    by_rule: dict[int, list[str]] = {}
    for rule_id, key in idents:
        by_rule.setdefault(rule_id, []).append(key)
    conn = session.connection()
    dialect = conn.dialect
    docs: dict[tuple[int, str], dict] = {}
    for rule_id, keys in sorted(by_rule.items()):
        keys.sort()
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start:start + CHUNK]
            size = next(n for n in SELECT_SIZES if n >= len(chunk))
            compiled = _SELECTS.get((dialect.name, size))
            if compiled is None:
                compiled = _SELECTS[(dialect.name, size)] = _compile_select(dialect, size)
            sql, order = compiled
            chunk += [chunk[-1]] * (size - len(chunk))  # a few statements for every size: repeat the last key
            params: dict[str, Any] = {"state_rule_id": rule_id}
            params.update(zip(_KEY_NAMES, chunk))
            if order is not None:
                params = tuple(params[name] for name in order)
            for key, text in conn.exec_driver_sql(sql, params):
                docs[(rule_id, key)] = loads(text)
    return docs


def update(session: Session, rows: Sequence[tuple[int, str, dict, bool, int | None]], now: Any) -> None:
    """Store new documents: ``rows`` of (rule_id, key, doc, active, last_ts_ms); ``now`` = updated_at."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    compiled = _UPDATES.get(dialect.name)
    if compiled is None:
        compiled = _UPDATES[dialect.name] = _compile_update(dialect)
    sql, order, stamp = compiled
    updated_at = stamp(now) if stamp is not None else now
    if order is None:  # a named paramstyle (psycopg's pyformat)
        params: list = [{"state_rule_id": rule_id, "state_key": key, "state_data": dumps(doc), "state_active": active,
                         "state_last": last, "state_updated": updated_at}
                        for rule_id, key, doc, active, last in rows]
    else:  # a positional one (SQLite's qmark): values in the compiled order
        pick = itemgetter(*(_UPDATE_NAMES.index(name) for name in order))
        params = [pick((rule_id, key, dumps(doc), active, last, updated_at))
                  for rule_id, key, doc, active, last in rows]
    conn.exec_driver_sql(sql, params)


_UPDATE_NAMES = ("state_rule_id", "state_key", "state_data", "state_active", "state_last", "state_updated")


def insert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add states never stored before: ``rows`` of column values."""
    if rows:
        session.execute(sql_insert(_TABLE), list(rows))


_KEY_NAMES = tuple(f"state_key_{i}" for i in range(CHUNK))


def _compile_select(dialect: Any, size: int) -> tuple[str, tuple[str, ...] | None]:
    stmt = (select(_TABLE.c.key, cast(_TABLE.c.data, Text))
            .where(_TABLE.c.rule_id == bindparam("state_rule_id"),
                   _TABLE.c.key.in_([bindparam(name) for name in _KEY_NAMES[:size]]))
            .order_by(_TABLE.c.key).with_for_update())
    compiled = stmt.compile(dialect=dialect)
    return str(compiled), (tuple(compiled.positiontup) if compiled.positiontup else None)


def _compile_update(dialect: Any) -> tuple[str, tuple[str, ...] | None, Any]:
    data: Any = bindparam("state_data", type_=Text)
    if dialect.name != "sqlite":
        # PostgreSQL will not assign text to a json column without a cast; SQLite must not get
        # one (CAST(x AS JSON) there means numeric affinity).
        data = cast(data, _TABLE.c.data.type)
    stmt = (sql_update(_TABLE)
            .where(_TABLE.c.rule_id == bindparam("state_rule_id"), _TABLE.c.key == bindparam("state_key"))
            .values(data=data, active=bindparam("state_active", type_=_TABLE.c.active.type),
                    last_ts_ms=bindparam("state_last", type_=_TABLE.c.last_ts_ms.type),
                    updated_at=bindparam("state_updated", type_=_TABLE.c.updated_at.type)))
    compiled = stmt.compile(dialect=dialect)
    order = tuple(compiled.positiontup) if compiled.positiontup else None
    stamp = _TABLE.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect)
    return str(compiled), order, stamp
