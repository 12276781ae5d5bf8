"""The shared cache of what every reader sees alike, and the content version that invalidates it.

Where: Flask-Caching, in Redis (CACHE_URL, else RATELIMIT_STORAGE_URI when it is a redis:// URL)
or in each process. What: rendered pages of post lists with their pagers (app/main/fragments.py);
a profile's post count needs no caching, it is a column of the user row the page loads anyway.
Invalidation: `content_version` is one row in the database, bumped in the same transaction as
every change readers would see (`bump_content_version`). Each request reads it before any data
(with the signed-in user, or alone for a visitor) and every key carries it, so no process reads
an entry made before a change once that change is committed. Old entries simply expire.
A cache that fails (Redis down) is skipped for a moment, with a warning: pages are then rendered
uncached, never broken.
"""

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, request
from sqlalchemy import ColumnElement, Executable, func, select

from app.database import insert_with_conflicts, read_once
from app.extensions import cache, db
from app.models import ContentVersion
from config import REDIS_URL_SCHEMES

log = logging.getLogger(__name__)
T = TypeVar("T")

VERSION_ROW = 1
RETRY_AFTER = 5.0  # seconds a failing cache is left alone before it is tried again
STATE_KEY = "microblog_shared_cache"
RECENT_KEY = "microblog_recent_entries"
RECENT_ENTRIES = 32  # per process: the newest pages of the timeline and of the busiest profiles


def cache_url(config: Mapping[str, Any]) -> str:
    """Where the cache lives: CACHE_URL, else a Redis rate-limit storage, else memory://."""
    if config.get("CACHE_URL"):
        return str(config["CACHE_URL"])
    limiter_storage = str(config.get("RATELIMIT_STORAGE_URI") or "")
    return limiter_storage if limiter_storage.startswith(REDIS_URL_SCHEMES) else "memory://"


def cache_settings(config: Mapping[str, Any], code: str) -> dict[str, Any]:
    """Flask-Caching's settings; `code` (render_digest) and the page size keep deploys' entries apart."""
    url = cache_url(config)
    prefix = f"{config['RATELIMIT_KEY_PREFIX']}:page-cache:{code}-{config['POSTS_PER_PAGE']}:"
    if url == "memory://":
        return {"CACHE_TYPE": "SimpleCache", "CACHE_KEY_PREFIX": prefix}
    return {
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": url,
        "CACHE_KEY_PREFIX": prefix,
        # A silent Redis costs one request a second at most, then the cache is skipped for a while.
        "CACHE_OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
    }


def render_digest() -> str:
    """A digest of the code that shapes entries (templates, app/main, pagination): after a deploy that
    changes any of it, no worker reads entries the old code made."""
    app_dir = Path(__file__).parent
    sources = [
        *(app_dir / "templates").rglob("*.html"),
        *(app_dir / "main").glob("*.py"),
        app_dir / "pagination.py",
    ]
    digest = hashlib.sha256()
    for path in sorted(sources):
        digest.update(path.relative_to(app_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def init_cache(app: Flask) -> None:
    """Bind the cache object to the app with its settings."""
    settings = cache_settings(app.config, render_digest())
    cache.init_app(app, config=settings)
    app.extensions[STATE_KEY] = CacheHealth(backend_failures(settings))
    app.extensions[RECENT_KEY] = RecentEntries(RECENT_ENTRIES)


def backend_failures(settings: Mapping[str, Any]) -> tuple[type[Exception], ...]:
    """The errors that mean the cache's storage failed: Redis refusing, timing out or gone.

    redis (about 6 MB a worker with what it imports) loads only when the cache is in Redis.
    """
    if settings["CACHE_TYPE"] != "RedisCache":
        return ()  # the in-process cache does not fail
    from redis import RedisError

    return (RedisError, OSError)


# --- The content version -------------------------------------------------------------------------


def version_column() -> ColumnElement[int]:
    """The content version as a column expression, to add to a query the request runs anyway."""
    table = ContentVersion.__table__
    return func.coalesce(select(table.c.version).where(table.c.id == VERSION_ROW).scalar_subquery(), 0)


# Built once: building even this small statement costs several times what running it does.
VERSION_QUERY = select(version_column())


def remember_content_version(version: int) -> None:
    """Keep the version read with the signed-in user for this request's cache keys."""
    g.content_version = version


def content_version() -> int:
    """This request's content version: the one read with the user, else one small query."""
    if "content_version" not in g:
        row = read_once(VERSION_QUERY)
        g.content_version = (row[0] if row is not None else 0) or 0
    return int(g.content_version)


def version_upsert(now: int) -> Executable:
    """Set the version to the larger of itself + 1 and now; write the row if it is missing."""
    following = ContentVersion.version + 1
    larger = func.greatest if db.engine.dialect.name == "postgresql" else func.max  # SQLite's max(a, b)
    insert = insert_with_conflicts(ContentVersion).values(id=VERSION_ROW, version=now)
    upsert = insert.on_conflict_do_update(
        index_elements=[ContentVersion.id], set_={"version": larger(following, now)}
    )
    return cast(Executable, upsert)


def bump_content_version() -> None:
    """Move the version on, in the caller's transaction (commit it with the change it announces).

    The new version is at least the time in microseconds, so it never comes back to a number
    used before, even after the table was emptied or the database restored from a backup (old
    entries under that number may still be in Redis). Pending changes are flushed first, so
    every writer locks the version row last and two writers never wait on each other in a circle.
    """
    db.session.flush()
    db.session.execute(version_upsert(time.time_ns() // 1000))
    # This request's own version stays as read: an entry built from what it reads after the bump
    # is newer than its key, never older, and nothing uncommitted ever gets a key of its own.


# --- Reading and writing entries -----------------------------------------------------------------


class CacheHealth:
    """Whether the cache answered lately; after a failure it is skipped for RETRY_AFTER seconds."""

    def __init__(self, failures: tuple[type[Exception], ...]) -> None:
        self.failures = failures
        self.skip_until = 0.0

    def usable(self) -> bool:
        """Whether to try the cache now."""
        return time.monotonic() >= self.skip_until

    def failed(self, error: Exception) -> None:
        """Note a failure: warn, and leave the cache alone for a while."""
        self.skip_until = time.monotonic() + RETRY_AFTER
        log.warning("shared cache unavailable (%s); pages are rendered uncached for now", error)


def cache_key(*parts: object) -> str:
    """A key for one entry: the content version, the script root (links depend on it), then parts."""
    return ":".join(str(part) for part in (content_version(), request.script_root, *parts))


class RecentEntries:
    """The entries this process used last, kept as they are in front of the shared cache.

    Every key carries the content version, so what is stored under a key never changes: keeping it
    here is always right, and a page view it serves skips the shared cache's round trip and the
    unpickling (about 30 µs in process, a network round trip with Redis). Entries are immutable
    tuples, safe to share between threads. Hand-written because cachelib's in-process cache pickles
    every value, which is the cost avoided here.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[str, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Any:
        """The entry under key, or None; it becomes the most recently used."""
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def clear(self) -> None:
        """Forget every entry (with the shared cache's own clear, for a full re-render)."""
        with self.lock:
            self.entries.clear()

    def keep(self, key: str, entry: Any) -> None:
        """Keep an entry, forgetting the least recently used beyond `size`."""
        with self.lock:
            self.entries[key] = entry
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


def cached(key: str, build: Callable[[], T]) -> T:
    """The entry under key, else build() (stored for the next reader); the cache failing is no error."""
    recent: RecentEntries = current_app.extensions[RECENT_KEY]
    entry = recent.get(key)
    if entry is not None:
        return cast(T, entry)
    entry, shared = shared_entry(key, build)
    if shared:  # while the shared cache is failing, pages are simply rendered every time
        recent.keep(key, entry)
    return entry


def shared_entry(key: str, build: Callable[[], T]) -> tuple[T, bool]:
    """The entry under key from the shared cache, else build() and store it there; and whether the
    shared cache answered."""
    health: CacheHealth = current_app.extensions[STATE_KEY]
    if not health.usable():
        return build(), False
    try:
        entry = cache.get(key)
    except health.failures as error:
        health.failed(error)
        return build(), False
    if entry is not None:
        return cast(T, entry), True
    entry = build()
    try:
        cache.set(key, entry)
    except health.failures as error:
        health.failed(error)
        return entry, False
    return entry, True
