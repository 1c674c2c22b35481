"""How the ``wardlink`` command ends on an expected failure: one line on standard error and an
exit code that says what kind of failure it was (docs/deployment.md, "Exit codes").

A failure nobody expected (a bug) still ends with Python's traceback. With ``--debug`` or
``WARDLINK_DEBUG=1`` every failure does, the expected ones included.
"""

from __future__ import annotations

import errno
import os

from wardlink.hub.errors import HubError, StoreError
from wardlink.monitor import MonitorError

#: the command ran and found a problem (a broken audit chain, a failed job, a rejected payload)
EXIT_FAILURE = 1
#: the command line, a setting or the input was refused (argparse uses 2 for usage errors too)
EXIT_USAGE = 2
#: the database or another store cannot be reached, or is not at the schema this version needs
EXIT_UNAVAILABLE = 3
#: a file or directory the command needs does not exist
EXIT_NO_FILE = 4
#: the operating system denied access to a file, directory or port
EXIT_PERMISSION = 5
#: another operating-system failure (an address already in use, a full disk...)
EXIT_OS = 6


def debug_requested(flag: bool, environ=os.environ) -> bool:
    """Return True when tracebacks are wanted: ``--debug`` or a true ``WARDLINK_DEBUG``."""
    return flag or environ.get("WARDLINK_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def describe(exc: BaseException, database_url: str | None = None) -> tuple[int, str] | None:
    """Return (exit code, one-line message) for an expected failure, or None for a bug.

    ``database_url`` names the database in connection failures (its password is never shown).
    """
    from sqlalchemy.exc import InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError)) and exc.statement is None:
        from wardlink.hub.db.engine import database_place, failure_reason

        return EXIT_UNAVAILABLE, f"cannot reach {database_place(database_url)}: {failure_reason(exc)}"
    if isinstance(exc, StoreError):
        return EXIT_UNAVAILABLE, str(exc)
    if isinstance(exc, MonitorError):  # e.g. the metrics port is taken
        return EXIT_OS, str(exc)
    if isinstance(exc, HubError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        what = (exc.strerror or str(exc)).lower() if exc.strerror else str(exc)
        if isinstance(exc, FileNotFoundError) or exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return EXIT_NO_FILE, f"{what}{where}"
        if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
            return EXIT_PERMISSION, f"{what}{where}"
        return EXIT_OS, f"{what}{where}"
    return None
