"""Post lists as the shared cache keeps them: rendered once, the relative times filled in per view.

A page of the timeline or of a profile's posts is the same for every reader, so its rendered
HTML (the posts and the pager) is kept in the shared cache (app/shared_cache.py). Its "5 minutes
ago" texts are not: each is left as a placeholder and the HTML is kept as the pieces between them,
with the moments. Serving joins the pieces with `ago(moment, now)`, so a cached list reads right to
the minute, and the page is byte for byte what rendering it afresh gives.
"""

import secrets
from datetime import datetime
from typing import Any, NamedTuple

from flask import current_app, redirect, url_for
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from app.main.filters import ago
from app.main.posts import PostPage, post_page, requested_page
from app.models import utcnow
from app.pagination import PageRequest, encode_cursor
from app.shared_cache import cache_key, cached

# Where a relative time goes. NUL is refused in URLs, posts and nicknames; the random part makes
# it unguessable anyway.
PLACEHOLDER = f"\x00moment-{secrets.token_hex(8)}\x00"
PLACEHOLDER_HTML = Markup(PLACEHOLDER)  # noqa: S704 - our own constant, no input in it


class MomentSlots:
    """The post_list macro's `when`: notes each moment and leaves a placeholder in its place."""

    def __init__(self) -> None:
        self.moments: list[datetime] = []

    def __call__(self, moment: datetime) -> Markup:
        self.moments.append(moment)
        return PLACEHOLDER_HTML


class Fragment(NamedTuple):
    """HTML with holes for relative times: the pieces around them and the moment of each hole."""

    pieces: tuple[str, ...]
    moments: tuple[datetime, ...]

    @classmethod
    def of(cls, html: str, slots: MomentSlots) -> "Fragment":
        """Cut rendered HTML at its placeholders."""
        pieces = tuple(html.split(PLACEHOLDER))
        assert len(pieces) == len(slots.moments) + 1, "a placeholder in the content itself"
        return cls(pieces, tuple(slots.moments))

    def render(self, now: datetime) -> Markup:
        """The HTML, each hole filled with how long ago its moment was at `now`."""
        parts = [self.pieces[0]]
        for moment, piece in zip(self.moments, self.pieces[1:], strict=True):
            parts.append(str(escape(ago(moment, now))))
            parts.append(piece)
        return Markup("".join(parts))  # noqa: S704 - pieces of an autoescaped render, escaped times


class CachedList(NamedTuple):
    """One page of a post list as cached: the posts, the pager, what kind of page it is."""

    posts: Fragment
    pager: Markup
    has_posts: bool
    past_the_end: bool
    newest_instead: bool = False  # a Newer link reached the newest posts: they live at the plain URL

    def served(self, now: datetime) -> "ServedList":
        """The page as the template shows it, relative times as of now."""
        return ServedList(self.posts.render(now), self.pager, self.has_posts, self.past_the_end)


class ServedList(NamedTuple):
    """One page of a post list as a template shows it."""

    html: Markup  # the posts
    pager: Markup
    has_posts: bool
    past_the_end: bool


def render_list(page: PostPage | None, endpoint: str, link_values: dict[str, Any]) -> CachedList:
    """Render a page of posts and its pager with the shared macros, relative times left open."""
    if page is None:
        return CachedList(
            Fragment(("",), ()), Markup(), has_posts=False, past_the_end=False, newest_instead=True
        )
    macros: Any = current_app.jinja_env.get_template("_macros.html").module
    slots = MomentSlots()
    posts = str(macros.post_list(page.items, slots)) if page.items else ""
    pager = macros.pager(page, endpoint, **link_values) if page.items else Markup()
    return CachedList(Fragment.of(posts, slots), pager, bool(page.items), page.past_the_end)


def request_key(wanted: PageRequest) -> str:
    """The part of a cache key that says which page: before or after a cursor, or the newest."""
    if wanted.before is not None:
        return f"before:{encode_cursor(*wanted.before)}"
    if wanted.after is not None:
        return f"after:{encode_cursor(*wanted.after)}"
    return "newest"


def post_list(
    wanted: PageRequest, endpoint: str, author_id: int | None = None, **link_values: Any
) -> CachedList:
    """A page of the timeline (or of one author's posts): from the shared cache, else rendered and kept."""
    key = cache_key("posts", "all" if author_id is None else author_id, request_key(wanted))
    return cached(key, lambda: render_list(post_page(wanted, author_id), endpoint, link_values))


def requested_list(endpoint: str, author_id: int | None = None, **link_values: Any) -> ServedList | Response:
    """The page of posts this request's URL asks for, relative times as of now; or a redirect to the
    plain URL when a Newer link reaches the newest posts; or a 301 from an old ?page=N URL."""
    asked = requested_page(endpoint, author_id, **link_values)
    if isinstance(asked, PageRequest):
        entry = post_list(asked, endpoint, author_id, **link_values)
    elif isinstance(asked, PostPage):  # an old page number past the end: nothing worth keeping
        entry = render_list(asked, endpoint, link_values)
    else:
        return asked
    if entry.newest_instead:
        return redirect(url_for(endpoint, **link_values))
    return entry.served(utcnow())
