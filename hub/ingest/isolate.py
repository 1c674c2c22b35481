"""Telling a store's refusal of one message's data from an outage of the store.

Ingest retries a write while a store is *unavailable* (connection refused, database down or
locked): nothing is acknowledged meanwhile and nothing is lost. When a store *refuses the data
itself* (a value the driver cannot bind, a constraint, a string the database cannot hold),
retrying the same write fails forever and would stop every other gateway's data behind it; the
worker then writes message by message, so the refused message is dead-lettered alone
(``store_rejected`` or ``listener_rejected``) and the others go through.

Stores and listeners wrap what their database raised (``RuleStoreError`` from the rules engine,
``StoreRejected``/``StoreUnavailable`` from the ingest records); :func:`is_data_error` looks
through that wrapping at the cause.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from wardlink.hub.telemetry.model import InvalidPoint, StoreRejected, StoreUnavailable

#: Exceptions that say the data was refused, wherever they are raised from.
_DATA_ERRORS = (StoreRejected, InvalidPoint, DataError, IntegrityError, UnicodeError, ValueError, TypeError,
                OverflowError)


def is_data_error(exc: BaseException | None) -> bool:
    """Return True when ``exc`` (or the exception it wraps) refuses the data, not the connection."""
    for _ in range(8):  # a cause chain is short; the bound guards against a cycle
        if exc is None or isinstance(exc, StoreUnavailable):
            return False
        if isinstance(exc, _DATA_ERRORS):
            return True
        if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
            return True  # SQLAlchemy could not bind a value: nothing reached the database
        if isinstance(exc, DBAPIError):
            return False  # the driver's other errors: operational, internal, programming...
        exc = exc.__cause__ or exc.__context__
    return False
