"""Bringing a database to the current schema, safely and repeatably, through the Alembic migrations."""

import time
from collections.abc import Mapping
from typing import Any, cast

from flask import Flask, current_app
from sqlalchemy import CursorResult, Engine, Executable, Result, Row, create_engine, event, inspect
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError

from app.extensions import db
from app.migrating import load_migrate

# The first migration: databases created before migrations existed already have its tables.
BASELINE_REVISION = "0001"
VERSION_TABLE = "alembic_version"
AUTOCOMMIT_ENGINE = "microblog.autocommit_engine"


def rows_affected(result: Result[Any]) -> int:
    """How many rows a DELETE or UPDATE changed (for DML, Session.execute returns a CursorResult)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def read_once(statement: Executable, params: Mapping[str, Any] | None = None) -> Row[Any] | None:
    """The first row of one SELECT, run on a pooled connection of its own, outside the ORM session.

    For the one read a page view may need before it can be served from the cache (the signed-in
    user, the content version): no ORM session is opened for it. On PostgreSQL in autocommit mode:
    one SELECT needs no transaction, which saves the BEGIN and ROLLBACK round trips (SQLite begins
    none for a SELECT, and leaving autocommit would cost it a PRAGMA at every check-in). A connection
    found cut (the database restarted while it sat in the pool) is replaced and the read run again:
    it changed nothing.
    """
    try:
        return first_row(statement, params)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return first_row(statement, params)


def first_row(statement: Executable, params: Mapping[str, Any] | None) -> Row[Any] | None:
    """Run one SELECT on a pooled connection (the autocommit pool on PostgreSQL); its first row."""
    with read_engine().connect() as connection:
        return connection.execute(statement, params).first()


def read_engine() -> Engine:
    """The engine read_once uses: the app's autocommit pool on PostgreSQL, else the app's engine."""
    engine: Engine | None = current_app.extensions.get(AUTOCOMMIT_ENGINE)
    return db.engine if engine is None else engine


def add_autocommit_pool(app: Flask, engine: Engine) -> Engine:
    """A second pool on the app's PostgreSQL database whose connections stay in autocommit mode.

    Switching a connection of the main pool to autocommit for one read, and back when it returns
    (SQLAlchemy resets the isolation level and rolls back at check-in), cost about 120 µs of CPU a
    page view, a third of the read itself. These connections are made in autocommit mode and stay
    so: nothing is ever left open on them to roll back, hence no reset at check-in. Same URL and
    options (timeouts, keepalives) as the main pool.
    """
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    options |= {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None}
    autocommit = create_engine(engine.url, **options)
    app.extensions[AUTOCOMMIT_ENGINE] = autocommit
    for failed, other in ((engine, autocommit), (autocommit, engine)):
        recycle_after_disconnect(failed, other)
    return autocommit


def recycle_after_disconnect(engine: Engine, other: Engine) -> None:
    """When engine finds a connection cut, the other pool's connections are replaced too.

    Both pools talk to the same server, so what cut one (a restart, a failover) cut the other's
    connections as well. SQLAlchemy recycles the pool that saw the failure; this does the same for
    the other (connections in use finish their work and are then closed).
    """

    @event.listens_for(engine, "handle_error")
    def recycle_other(context: Any) -> None:
        if context.is_disconnect:
            other.dispose()


def dispose_engines() -> None:
    """Close every pooled connection of the current app, in both pools (tests, tools)."""
    for engine in app_engines():
        engine.dispose()


def app_engines() -> list[Engine]:
    """Every engine of the current app: its own and, on PostgreSQL, the autocommit pool."""
    autocommit: Engine | None = current_app.extensions.get(AUTOCOMMIT_ENGINE)
    return [db.engine] if autocommit is None else [db.engine, autocommit]


def ping_idle_connections(engine: Engine, after_seconds: float) -> None:
    """Check a pooled connection that sat idle more than after_seconds before handing it out.

    SQLAlchemy's pool_pre_ping checks on every checkout: a round trip before every page view's one
    query, on a busy site for connections used a moment ago. A database restart or failover takes
    longer than a second, so by the time it is back every connection it cut has been idle that long
    and is checked; one that does not answer is replaced (DisconnectionError makes the pool connect
    afresh). Should a cut connection slip through anyway, SQLAlchemy then recycles every connection
    older than the failure, and a page view's one read (read_once) runs again on a fresh one.
    """

    @event.listens_for(engine, "checkin")
    def note_idle_since(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= after_seconds:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError(str(error)) from error
            raise


def insert_with_conflicts(model: Any) -> Any:
    """This database's INSERT for a model, the kind that takes ON CONFLICT (PostgreSQL or SQLite).

    Imports that dialect's module only: a site never loads the other database's SQLAlchemy dialect.
    """
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(model)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(model)


def commit_unless_duplicate() -> bool:
    """Commit the session; False (rolled back) when a unique constraint says another request won."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def write_ahead_log(engine: Engine) -> None:
    """An SQLite database file commits through a write-ahead log: one fsync a commit instead of several.

    In the default rollback-journal mode each commit writes and syncs a journal, then the database,
    then deletes the journal. The mode is kept in the file; setting it again is a no-op. The
    synchronous setting stays FULL, so a commit is as durable as before; readers no longer hold
    writers back (each reads the last commit before it started).
    """

    @event.listens_for(engine, "connect")
    def use_wal(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()


def unversioned_legacy_database() -> bool:
    """Whether the app's tables exist without Alembic's version table (made by db.create_all)."""
    tables = set(inspect(db.engine).get_table_names())
    return "user" in tables and VERSION_TABLE not in tables


def ensure_schema() -> None:
    """Apply every migration not yet applied; existing tables and their rows are kept.

    A database created before migrations existed is first marked as being at
    the baseline migration, then upgraded like any other.
    """
    from flask_migrate import stamp, upgrade

    directory = load_migrate(current_app).directory
    if unversioned_legacy_database():
        stamp(directory=directory, revision=BASELINE_REVISION)
    upgrade(directory=directory)
