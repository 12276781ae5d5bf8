"""The shared cache of what every reader sees alike, and the content version that invalidates it.

Where: Flask-Caching, in Redis (CACHE_URL, else RATELIMIT_STORAGE_URI when it is a redis:// URL)
or in each process. What: see app/main/fragments.py (rendered post lists, pagers, post counts).
Invalidation: `content_version` is one row in the database, bumped in the same transaction as
every change readers would see (`bump_content_version`). Each request reads it before any data
(with the signed-in user, or alone for a visitor) and every key carries it, so no process reads
an entry made before a change once that change is committed. Old entries simply expire.
A cache that fails (Redis down) is skipped for a moment, with a warning: pages are then rendered
uncached, never broken.
"""

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import cache, db
from app.models import ContentVersion
from config import REDIS_URL_SCHEMES

log = logging.getLogger(__name__)
T = TypeVar("T")

VERSION_ROW = 1
RETRY_AFTER = 5.0  # seconds a failing cache is left alone before it is tried again
STATE_KEY = "microblog_shared_cache"


def cache_url(config: Mapping[str, Any]) -> str:
    """Where the cache lives: CACHE_URL, else a Redis rate-limit storage, else memory://."""
    if config.get("CACHE_URL"):
        return str(config["CACHE_URL"])
    limiter_storage = str(config.get("RATELIMIT_STORAGE_URI") or "")
    return limiter_storage if limiter_storage.startswith(REDIS_URL_SCHEMES) else "memory://"


def cache_settings(config: Mapping[str, Any], markup: str) -> dict[str, Any]:
    """Flask-Caching's settings; `markup` (a digest of the templates) keeps deploys' entries apart."""
    url = cache_url(config)
    prefix = f"{config['RATELIMIT_KEY_PREFIX']}:page-cache:{markup}:"
    if url == "memory://":
        return {"CACHE_TYPE": "SimpleCache", "CACHE_KEY_PREFIX": prefix}
    return {
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": url,
        "CACHE_KEY_PREFIX": prefix,
        # A silent Redis costs one request a second at most, then the cache is skipped for a while.
        "CACHE_OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
    }


def templates_digest(app: Flask) -> str:
    """A short digest of every template's source: new markup never reads entries of the old."""
    loader = app.jinja_env.loader
    assert loader is not None  # Flask always gives its environment a loader
    digest = hashlib.sha256()
    for name in sorted(app.jinja_env.list_templates()):
        digest.update(name.encode())
        digest.update(loader.get_source(app.jinja_env, name)[0].encode())
    return digest.hexdigest()[:12]


def init_cache(app: Flask) -> None:
    """Bind the cache object to the app with its settings."""
    cache.init_app(app, config=cache_settings(app.config, templates_digest(app)))
    app.extensions[STATE_KEY] = CacheHealth()


# --- The content version -------------------------------------------------------------------------


def version_column() -> ColumnElement[int]:
    """The content version as a column expression, to add to a query the request runs anyway."""
    stored = select(ContentVersion.version).where(ContentVersion.id == VERSION_ROW).scalar_subquery()
    return func.coalesce(stored, 0)


def remember_content_version(version: int) -> None:
    """Keep the version read with the signed-in user for this request's cache keys."""
    g.content_version = version


def content_version() -> int:
    """This request's content version: the one read with the user, else one small query."""
    if "content_version" not in g:
        g.content_version = db.session.scalar(select(version_column())) or 0
    return int(g.content_version)


def bump_content_version() -> None:
    """Move the version on, in the caller's transaction (commit it with the change it announces).

    Pending changes are flushed first, so every writer locks the version row last and two
    writers never wait on each other in a circle.
    """
    db.session.flush()
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    # An upsert, so an emptied table (tests truncate it) never silently stops invalidation.
    statement = dialect.insert(ContentVersion).values(id=VERSION_ROW, version=1)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[ContentVersion.id], set_={"version": ContentVersion.version + 1}
        )
    )
    # This request's own version stays as read: an entry built from what it reads after the bump
    # is newer than its key, never older, and nothing uncommitted ever gets a key of its own.


# --- Reading and writing entries -----------------------------------------------------------------


class CacheHealth:
    """Whether the cache answered lately; after a failure it is skipped for RETRY_AFTER seconds."""

    def __init__(self) -> None:
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


def cached(key: str, build: Callable[[], T]) -> T:
    """The entry under key, else build() (stored for the next reader); the cache failing is no error."""
    health: CacheHealth = current_app.extensions[STATE_KEY]
    if not health.usable():
        return build()
    try:
        entry = cache.get(key)
    except Exception as error:  # any backend failure (connection, timeout, a corrupt entry)
        health.failed(error)
        return build()
    if entry is not None:
        return entry  # type: ignore[no-any-return]
    entry = build()
    try:
        cache.set(key, entry)
    except Exception as error:
        health.failed(error)
    return entry
