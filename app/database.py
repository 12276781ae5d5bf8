"""Bringing a database to the current schema, safely and repeatably, through the Alembic migrations."""

from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, Engine, Result, event, inspect
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.migrating import load_migrate

# The first migration: databases created before migrations existed already have its tables.
BASELINE_REVISION = "0001"
VERSION_TABLE = "alembic_version"


def rows_affected(result: Result[Any]) -> int:
    """How many rows a DELETE or UPDATE changed (for DML, Session.execute returns a CursorResult)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


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
