"""Who is acting: a signed-in user, the local console operator, or an internal process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wardlink.clock import Clock, SystemClock

if TYPE_CHECKING:
    from wardlink.hub.db.models import User

SYSTEM_ROLE = "system"
_SYSTEM_CLOCK = SystemClock()


@dataclass(frozen=True)
class Actor:
    """The identity a service call runs under."""

    username: str
    role: str
    user_id: int | None = None
    department_id: int | None = None
    source_ip: str | None = None

    @classmethod
    def for_user(cls, user: User, source_ip: str | None = None) -> Actor:
        """Return the actor of a signed-in ``user``."""
        return cls(username=user.username, role=user.role, user_id=user.id,
                   department_id=user.department_id, source_ip=source_ip)

    @classmethod
    def system(cls, name: str) -> Actor:
        """Return an internal actor (``seed``, ``rules``, ``ingest``...) with every permission."""
        return cls(username=name, role=SYSTEM_ROLE)

    @property
    def is_system(self) -> bool:
        """Return True for the console operator and internal processes."""
        return self.role == SYSTEM_ROLE


CONSOLE = Actor.system("console")


def resolve_actor(actor: Actor | None) -> Actor:
    """Return ``actor``, or the console operator for ``None``."""
    return CONSOLE if actor is None else actor


def resolve_clock(clock: Clock | None) -> Clock:
    """Return ``clock``, or the system clock for ``None``."""
    return _SYSTEM_CLOCK if clock is None else clock
