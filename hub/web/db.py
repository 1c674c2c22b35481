"""The request's database session: read-only for GET, a write transaction otherwise."""

from __future__ import annotations

from flask import Flask, g, request
from sqlalchemy.orm import Session

from wardlink.hub.db import make_session
from wardlink.hub.web.state import state

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def db() -> Session:
    """Return the session of the current request, opening it on first use."""
    session = g.get("_db")
    if session is None:
        session = make_session(state().engine, readonly=request.method in SAFE_METHODS)
        g._db = session
    return session


def commit() -> None:
    """Commit the current request's changes."""
    session = g.get("_db")
    if session is not None:
        session.commit()


def _close(_exc: BaseException | None) -> None:
    session = g.pop("_db", None)
    if session is not None:
        session.close()  # rolls back whatever the view did not commit


def init_app(app: Flask) -> None:
    """Close each request's session when the request ends."""
    app.teardown_request(_close)
