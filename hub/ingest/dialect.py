"""The dialect-specific INSERT (with ON CONFLICT) of the relational stores ingest writes to."""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy.dialects import postgresql, sqlite

#: ``sqlite.insert`` or ``postgresql.insert``: both build an INSERT with ``on_conflict_do_*``.
InsertFunction = Callable[..., Any]

INSERTS: dict[str, InsertFunction] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
