"""Reading and writing posts: pages of the timeline and of one author's posts, publishing, counts.

The lists come from statements built once, at import: each runs with bound parameters
(the cursor, the author, the page size) and returns plain rows (id, body, timestamp,
nickname), which the `post_list` macro renders. Building a statement and loading ORM
objects cost more than the query itself on a page of 20 short posts.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, redirect, request, url_for
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased
from werkzeug.wrappers import Response

from app.extensions import db
from app.models import Post, User
from app.pagination import Cursor, PageRequest, encode_cursor, page_request
from app.shared_cache import bump_content_version

CURSOR_TIME = bindparam("cursor_time", type_=Post.timestamp.type)
CURSOR_ID = bindparam("cursor_id", type_=BigInteger)  # a cursor may name any 64-bit id
AUTHOR_ID = bindparam("author_id", type_=Integer)
LIMIT = bindparam("limit", type_=Integer)
OFFSET = bindparam("offset", type_=BigInteger)  # an old ?page=N may be a billion pages deep
AnySelect = Select[*tuple[Any, ...]]  # a SELECT of any columns


def after_cursor(post: type[Post], *, inclusive: bool = False) -> ColumnElement[bool]:
    """Posts newer than the cursor (or the cursor's own post too, if inclusive), by (timestamp, id).

    Spelled with the timestamp bound on its own first, so that both SQLite and PostgreSQL
    start their index range at the cursor rather than filtering from the newest post down.
    """
    tie = post.id >= CURSOR_ID if inclusive else post.id > CURSOR_ID
    return and_(post.timestamp >= CURSOR_TIME, or_(post.timestamp > CURSOR_TIME, tie))


def before_cursor(post: type[Post], *, inclusive: bool = False) -> ColumnElement[bool]:
    """Posts older than the cursor (or the cursor's own post too, if inclusive), by (timestamp, id)."""
    tie = post.id <= CURSOR_ID if inclusive else post.id < CURSOR_ID
    return and_(post.timestamp <= CURSOR_TIME, or_(post.timestamp < CURSOR_TIME, tie))


def in_timeline(post: type[Post]) -> ColumnElement[bool]:
    """Posts shown on the front page: those whose authors are not suspended.

    A filter on a short, indexed list rather than a join on the suspension, so the newest
    posts still come straight from the (timestamp, id) index.
    """
    suspended = aliased(User)
    return post.user_id.not_in(select(suspended.id).where(suspended.suspended_at.is_not(None)))


def by_author(post: type[Post]) -> ColumnElement[bool]:
    """Posts by the author given as the author_id parameter."""
    return post.user_id == AUTHOR_ID


@dataclass(frozen=True)
class PostStatements:
    """The prebuilt statements for one list of posts (the timeline, or one author's posts)."""

    newest: AnySelect  # the newest page
    before: AnySelect  # older than the cursor; `more`: is there anything newer than the page
    after: AnySelect  # newer than the cursor, oldest first; `more`: is there anything older
    cursor_at: AnySelect  # (timestamp, id) of the post at an offset, for old ?page=N links


def post_statements(scope: Callable[[type[Post]], ColumnElement[bool]]) -> PostStatements:
    """Build the statements of one list; scope(post) says which posts belong to it."""
    rows = select(Post.id, Post.body, Post.timestamp, User.nickname).join(User, User.id == Post.user_id)
    rows = rows.where(scope(Post))
    newest_first = (Post.timestamp.desc(), Post.id.desc())
    other = aliased(Post, name="other")  # the "more" test looks beyond the page, at other rows

    def more(beyond: ColumnElement[bool], *nearest_first: ColumnElement[Any]) -> Any:
        # The nearest such post, not EXISTS: in (timestamp, id) order the database walks the index
        # from the cursor, where EXISTS may scan the table in insertion order, from the far end.
        nearest = select(other.id).where(scope(other), beyond).order_by(*nearest_first).limit(1)
        return nearest.scalar_subquery().is_not(None).label("more")

    return PostStatements(
        newest=rows.order_by(*newest_first).limit(LIMIT),
        before=rows.add_columns(
            more(after_cursor(other, inclusive=True), other.timestamp.asc(), other.id.asc())
        )
        .where(before_cursor(Post))
        .order_by(*newest_first)
        .limit(LIMIT),
        after=rows.add_columns(
            more(before_cursor(other, inclusive=True), other.timestamp.desc(), other.id.desc())
        )
        .where(after_cursor(Post))
        .order_by(Post.timestamp, Post.id)
        .limit(LIMIT),
        cursor_at=select(Post.timestamp, Post.id)
        .where(scope(Post))
        .order_by(*newest_first)
        .limit(1)
        .offset(OFFSET),
    )


TIMELINE = post_statements(in_timeline)
AUTHOR_POSTS = post_statements(by_author)


@dataclass(frozen=True)
class PostPage:
    """One page of posts as plain rows (id, body, timestamp, nickname), with its pager's cursors."""

    items: Sequence[Row[Any]]
    newer: str | None = None  # the "← Newer posts" link's ?after= cursor, when newer posts exist
    older: str | None = None  # the "Older posts →" link's ?before= cursor, when older posts exist
    past_the_end: bool = False  # a cursor or old page number with nothing beyond it


def page_of(rows: Sequence[Row[Any]], has_newer: bool, has_older: bool) -> PostPage:
    """A page of rows (newest first) with cursors to the pages either side of it, where they exist."""
    return PostPage(
        items=rows,
        newer=encode_cursor(rows[0].timestamp, rows[0].id) if rows and has_newer else None,
        older=encode_cursor(rows[-1].timestamp, rows[-1].id) if rows and has_older else None,
    )


def cursor_parameters(cursor: Cursor) -> dict[str, Any]:
    """A cursor as the statements' bound parameters."""
    return {"cursor_time": cursor.timestamp, "cursor_id": cursor.id}


def post_page(request: PageRequest, author_id: int | None = None) -> PostPage | None:
    """One page of the timeline (or of one author's posts), as asked for, in one query.

    One extra row tells whether there is more in the direction of travel; the statement's
    `more` column tells whether there is anything the other way. None when a Newer link
    reaches the newest posts: they belong at the list's plain URL.
    """
    statements = TIMELINE if author_id is None else AUTHOR_POSTS
    per_page = current_app.config["POSTS_PER_PAGE"]
    parameters: dict[str, Any] = {"limit": per_page + 1, "author_id": author_id}
    if request.before is not None:
        rows = db.session.execute(statements.before, parameters | cursor_parameters(request.before)).all()
        if not rows:
            return PostPage(items=(), past_the_end=True)
        return page_of(rows[:per_page], has_newer=rows[0].more, has_older=len(rows) > per_page)
    if request.after is not None:
        rows = db.session.execute(statements.after, parameters | cursor_parameters(request.after)).all()
        if len(rows) <= per_page:
            return None
        return page_of(rows[per_page - 1 :: -1], has_newer=True, has_older=rows[0].more)
    rows = db.session.execute(statements.newest, parameters).all()
    return page_of(rows[:per_page], has_newer=False, has_older=len(rows) > per_page)


def cursor_before_page(number: int, author_id: int | None = None) -> str | None:
    """For an old ?page=N link (N > 1): the ?before= cursor that shows the same posts (the last post
    of page N - 1); None when page N is past the end."""
    statements = TIMELINE if author_id is None else AUTHOR_POSTS
    offset = (number - 1) * current_app.config["POSTS_PER_PAGE"] - 1
    row = db.session.execute(statements.cursor_at, {"offset": offset, "author_id": author_id}).first()
    return encode_cursor(row.timestamp, row.id) if row is not None else None


def requested_page(
    endpoint: str, author_id: int | None = None, **values: Any
) -> PageRequest | PostPage | Response:
    """What this request's URL asks for: the newest posts or those before or after a cursor (see
    app/main/fragments.py); for an old ?page=N URL, a 301 to its ?before= equivalent (page 1, and
    values that are not page numbers, to the plain URL), or the empty page past the end."""
    wanted = page_request(request.args)
    if wanted.page_number is None:
        return wanted
    if wanted.page_number == 1:
        return redirect(url_for(endpoint, **values), 301)
    cursor = cursor_before_page(wanted.page_number, author_id)
    if cursor is None:
        return PostPage(items=(), past_the_end=True)
    return redirect(url_for(endpoint, before=cursor, **values), 301)


def count_posts(user_id: int, change: int) -> None:
    """Add change to the user's post_count in the current transaction (one UPDATE, nothing read).

    Every code path that adds or removes posts calls it before committing, so the count
    always matches the posts and a profile never counts them.
    """
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(post_count=User.post_count + change)
        .execution_options(synchronize_session=False)
    )


def publish_post(author_id: int, body: str) -> Post:
    """Save a post (already checked by PostForm), count it, and return it."""
    post = Post(body=body, user_id=author_id)
    db.session.add(post)
    count_posts(author_id, 1)
    bump_content_version()
    db.session.commit()
    return post
