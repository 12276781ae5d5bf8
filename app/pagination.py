"""Keyset pages of posts: the cursor in "Older posts" / "Newer posts" links, and what a URL asks for.

A page is found by where it starts, not by how many rows come before it, so the
thousandth page costs what the first does (OFFSET reads and throws away every
earlier row). The cursor names one post by its place in the (timestamp, id) order:
`<timestamp as integer microseconds since the Unix epoch, UTC>-<post id>`, for
example `1764585780123456-1234`. `?before=<cursor>` asks for the posts strictly
older than it, `?after=<cursor>` for those strictly newer. This module is the one
place that writes and reads cursors.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from app.models import as_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
CURSOR_PATTERN = re.compile(r"([0-9]{1,18})-([0-9]{1,19})")  # ASCII digits only: \d takes any script's
MAX_ID = 2**63 - 1  # a post id the database can compare against (BIGINT on PostgreSQL)
PAGE_ARGUMENTS = ("before", "after", "page")
MAX_PAGE = 1_000_000_000  # keeps a legacy ?page=N's OFFSET inside a 64-bit integer


class Cursor(NamedTuple):
    """A post's place in the newest-first order: its timestamp (aware UTC), then its id."""

    timestamp: datetime
    id: int


def encode_cursor(timestamp: datetime, post_id: int) -> str:
    """The cursor text for a post, e.g. '1764585780123456-1234'."""
    return f"{(as_utc(timestamp) - EPOCH) // MICROSECOND}-{post_id}"


def decode_cursor(text: str | None) -> Cursor | None:
    """The post place a cursor names; None for anything malformed or out of range."""
    match = CURSOR_PATTERN.fullmatch(text or "")
    if match is None:
        return None
    micros, post_id = int(match[1]), int(match[2])
    if post_id > MAX_ID:
        return None
    try:
        timestamp = EPOCH + micros * MICROSECOND
    except OverflowError:  # past the year 9999
        return None
    return Cursor(timestamp, post_id)


def page_arguments(args: Mapping[str, str]) -> dict[str, Any]:
    """The query-string arguments that say which page to show (kept when a URL is redirected)."""
    return {name: args[name] for name in PAGE_ARGUMENTS if name in args}


@dataclass(frozen=True)
class PageRequest:
    """What a list URL asks for: the newest posts, those before or after a cursor, or an old page number."""

    before: Cursor | None = None
    after: Cursor | None = None
    page_number: int | None = None  # only for old ?page=N links (1 for values that are not numbers)


def page_request(args: Mapping[str, str]) -> PageRequest:
    """Read ?before=, ?after= or a legacy ?page= from the query string; junk reads as the newest posts."""
    if "before" in args or "after" in args:
        before, after = decode_cursor(args.get("before")), decode_cursor(args.get("after"))
        return PageRequest(before=before) if before is not None else PageRequest(after=after)
    if "page" in args:
        return PageRequest(page_number=legacy_page_number(args["page"]))
    return PageRequest()


def legacy_page_number(text: str) -> int:
    """An old ?page= value as a page number: 1 for anything that is not a positive number."""
    if not (text.isascii() and text.isdigit()):
        return 1
    if len(text) > len(str(MAX_PAGE)):  # larger than any page: past the end (and no huge int())
        return MAX_PAGE
    return min(max(int(text), 1), MAX_PAGE)
