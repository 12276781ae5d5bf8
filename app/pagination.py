"""Pages of query results without counting every row.

A COUNT(*) over all posts on every page view grows with the table (on PostgreSQL
it is a scan of the whole table). One extra row tells whether an older page exists,
which is all the newer/older links need.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from app.extensions import db

MAX_PAGE = 1_000_000_000  # keeps OFFSET inside a 64-bit integer whatever ?page= says


@dataclass
class Page:
    """One page of results, with what the pager links need (names as in Flask-SQLAlchemy's Pagination)."""

    items: Sequence[Any]
    page: int
    per_page: int
    has_next: bool
    total: int | None = None  # only when asked for (count=True)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def paginate(query: Select[Any], page: int | None, per_page: int, count: bool = False) -> Page:
    """Run query for one page (1-based; out-of-range numbers are clamped) in a single SELECT.

    count=True adds a second query for the total number of rows (for a "N posts" line on
    a page whose rows are few and indexed, such as one user's posts).
    """
    page = min(max(page or 1, 1), MAX_PAGE)
    rows = db.session.scalars(query.limit(per_page + 1).offset((page - 1) * per_page)).all()
    total = (
        db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        if count
        else None
    )
    return Page(
        items=rows[:per_page], page=page, per_page=per_page, has_next=len(rows) > per_page, total=total
    )
