"""The language people are written to in: their own choice, else their site's.

A user may choose a language on their account page (``users.locale``); without one they read
their department's site's language (``sites.language``), and a user without a department reads
the language every site shares. With no choice anywhere the hub's ``default_locale`` applies:
the callers pass it, as they pass the clock. The browser's Accept-Language is never consulted:
a ward computer's browser says nothing about who is signed in at it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Department, Site, User
from wardlink.hub.i18n import supported


#: The statement of department_language, built once (building it costs more than running it).
_DEPARTMENT_LANGUAGE = (select(Site.language).join(Department, Department.site_id == Site.id)
                        .where(Department.id == bindparam("department_id", type_=Integer)))


def department_language(session: Session, department_id: int | None) -> str | None:
    """Return the language of a department's site, or None when it has none (or no department)."""
    if department_id is None:
        return None
    code = session.scalar(_DEPARTMENT_LANGUAGE, {"department_id": department_id})
    return supported(code)


def hospital_language(session: Session) -> str | None:
    """Return the language every site shares; None when there is no site or they disagree."""
    codes = set(session.scalars(select(Site.language).distinct().limit(2)))
    return supported(codes.pop()) if len(codes) == 1 else None


def _hospital_language_column():
    """The language every site shares as a scalar subquery (NULL when none or they disagree; a
    site without a language counts as one more language, as in :func:`hospital_language`)."""
    return (select(func.min(Site.language))
            .having(func.count(func.distinct(func.coalesce(Site.language, ""))) == 1)
            .scalar_subquery())


def language_columns() -> tuple:
    """Return the columns a ``select`` from ``users`` adds to learn each row's language with
    :func:`chosen_language`: the person's own, their department's site's and the hospital's."""
    site = (select(Site.language).join(Department, Department.site_id == Site.id)
            .where(Department.id == User.department_id).scalar_subquery())
    return (User.locale.label("own_language"), site.label("site_language"),
            _hospital_language_column().label("hospital_language"))


def chosen_language(row, *, default: str) -> str:
    """Return the language of a row selected with :func:`language_columns`: theirs, their
    site's, the hospital's or ``default``."""
    return (supported(row.own_language) or supported(row.site_language) or supported(row.hospital_language)
            or default)


@functools.cache
def _user_language_query():
    return select(*language_columns()).where(User.id == bindparam("user_id", type_=Integer))


def user_language(session: Session, user_id: int | None, *, default: str) -> str:
    """Return the language of user ``user_id``: theirs, their site's, the hospital's or ``default``."""
    row = None if user_id is None else session.execute(_user_language_query(), {"user_id": user_id}).first()
    if row is None:
        return hospital_language(session) or default
    return chosen_language(row, default=default)


def site_language(session: Session, department_id: int | None, *, default: str) -> str:
    """Return the language of the site a department belongs to (for someone with no account)."""
    return department_language(session, department_id) or hospital_language(session) or default


def address_languages(session: Session, addresses: Iterable[str], *, fallback: str) -> dict[str, str]:
    """Return the language of each e-mail address: the language of the person whose account has
    it (:func:`user_language`, matched without regard to case), else ``fallback`` (the language of
    the site the message is about, or the hub's ``default_locale``)."""
    wanted = {address.lower(): address for address in addresses}
    owners: dict[str, int] = {}
    for user_id, email in session.execute(select(User.id, User.email).where(func.lower(User.email).in_(wanted))
                                          .order_by(User.id)):
        owners.setdefault(email.lower(), user_id)
    return {address: user_language(session, owners[key], default=fallback) if key in owners else fallback
            for key, address in wanted.items()}
