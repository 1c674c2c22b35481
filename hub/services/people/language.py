"""The language people are written to in: their own choice, else their site's.

A user may choose a language on their account page (``users.locale``); without one they read
their department's site's language (``sites.language``), and a user without a department reads
the language every site shares. With no choice anywhere the hub's ``default_locale`` applies:
the callers pass it, as they pass the clock. The browser's Accept-Language is never consulted:
a ward computer's browser says nothing about who is signed in at it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Department, Site, User
from wardlink.hub.i18n import supported


def department_language(session: Session, department_id: int | None) -> str | None:
    """Return the language of a department's site, or None when it has none (or no department)."""
    if department_id is None:
        return None
    code = session.scalar(select(Site.language).join(Department, Department.site_id == Site.id)
                          .where(Department.id == department_id))
    return supported(code)


def hospital_language(session: Session) -> str | None:
    """Return the language every site shares; None when there is no site or they disagree."""
    codes = set(session.scalars(select(Site.language).distinct().limit(2)))
    return supported(codes.pop()) if len(codes) == 1 else None


def user_language(session: Session, user_id: int | None, *, default: str) -> str:
    """Return the language of user ``user_id``: theirs, their site's, the hospital's or ``default``."""
    row = None if user_id is None else session.execute(
        select(User.locale, User.department_id).where(User.id == user_id)).first()
    if row is not None and supported(row.locale):
        return row.locale
    site = department_language(session, row.department_id) if row is not None else None
    return site or hospital_language(session) or default


def site_language(session: Session, department_id: int | None, *, default: str) -> str:
    """Return the language of the site a department belongs to (for someone with no account)."""
    return department_language(session, department_id) or hospital_language(session) or default
