"""Domain logic of the hub. Routes and commands call these; they never touch models directly.

Every service function takes the SQLAlchemy ``session`` first and an ``actor`` keyword:
an :class:`~wardlink.hub.services.actor.Actor` for a signed-in user, or ``None`` for the local
operator at the command line (audited as ``console``). Permissions are checked here, from
the one table in :mod:`wardlink.hub.services.people.permissions`, and every change writes an audit row.
Functions flush but never commit: the caller owns the transaction.
"""

from wardlink.hub.services.actor import Actor

__all__ = ["Actor"]
