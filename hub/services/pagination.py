"""One page of a query's results, counted only as far as it pays.

A list page needs its rows and whether more follow; an exact total of a 200,000-row table on
every request costs more than the page itself. :func:`paginate` therefore fetches one row past
the page (so the last page is known without counting), and otherwise counts matches only up to
:data:`COUNT_LIMIT` (or to the end of the page asked for, if that is further). Beyond that the
total is reported as a lower bound, never as a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_

T = TypeVar("T")
MAX_PER_PAGE = 200
#: Matches are counted exactly up to this many; past it a list says "more than 10,000".
COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class Page(Generic[T]):
    """Items of page ``page`` (1-based) and how many rows match over all pages.

    ``total`` is exact when ``total_exact`` is True; otherwise more than ``total`` rows match
    (counting stopped there) and the number of pages is unknown.
    """

    items: list[T]
    page: int
    per_page: int
    total: int
    total_exact: bool = True

    @property
    def pages(self) -> int | None:
        """Return the number of pages (at least 1), or None when the total is only a lower bound."""
        if not self.total_exact:
            return None
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        """Return True when a previous page exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Return True when a next page exists."""
        if not self.total_exact:
            return True  # more than ``total`` rows match, and ``total`` reaches past this page
        return self.page < self.pages


def check_paging(page: int, per_page: int) -> None:
    """Raise :class:`InvalidInput` for a page below 1 or a page size outside 1..200."""
    if page < 1:
        raise InvalidInput(N_("page: must be >= 1, got %(page)s"), page=page)
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(N_("per_page: must be 1..%(max_per_page)s, got %(per_page)s"),
                           max_per_page=MAX_PER_PAGE, per_page=per_page)


def paginate(session: Session, stmt: Select, page: int, per_page: int, *,
             count_limit: int = COUNT_LIMIT, keys: Select | None = None) -> Page:
    """Run ``stmt`` for one page; count its rows exactly up to ``count_limit``.

    ``keys`` is the same query selecting only the primary key (same filters, same order). When
    given, the page's keys are chosen first and only their rows are read: a database that
    must sort the matches (a date range in one index, ordered by another column) then sorts
    keys read from an index instead of whole rows read from the table."""
    check_paging(page, per_page)
    offset = (page - 1) * per_page
    if keys is None:
        rows = list(session.scalars(stmt.limit(per_page + 1).offset(offset)))
    else:
        chosen = keys.limit(per_page + 1).offset(offset).subquery()
        key = keys.selected_columns[0]
        rows = list(session.scalars(stmt.where(key.in_(select(chosen.c[0])))))
    items = rows[:per_page]
    if len(rows) <= per_page and (rows or page == 1):
        # The last page: every match is before it or on it, so no count is needed.
        return Page(items, page, per_page, offset + len(rows))
    # The count's bound reaches past this page, so an inexact total still says a next page exists.
    bound = max(count_limit, offset + per_page)
    counted = session.scalar(select(func.count()).select_from(_bounded(stmt, bound + 1))) or 0
    return Page(items, page, per_page, min(counted, bound), counted <= bound)


def bounded_count(stmt: Select, bound: int):
    """Return a scalar subquery counting ``stmt``'s rows up to ``bound + 1`` (more than ``bound``
    means the total is not exact), selecting as little as it can: several lists' counts can then
    be read in one statement."""
    return select(func.count()).select_from(_bounded(stmt, bound + 1)).scalar_subquery()


def _bounded(stmt: Select, limit: int):
    """Return ``stmt`` as a subquery of at most ``limit`` rows, selecting as little as it can."""
    stmt = stmt.order_by(None).limit(limit)
    if not stmt._distinct:  # DISTINCT rows depend on the columns, so keep them
        # A constant leaves the database free to count from an index alone (a LIMIT stops
        # SQLite from flattening the subquery and dropping unused columns by itself).
        stmt = stmt.with_only_columns(literal(1), maintain_column_froms=True)
    return stmt.subquery()
