"""Test databases built from the Alembic migrations, emptied cheaply between tests.

SQLite: the migrated file is made once and copied for each test.
PostgreSQL: the test database's schema is rebuilt once per run, then every
table is truncated before each test (much faster than migrating every time).
"""

import shutil
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from app import create_app
from app.database import ensure_schema
from app.extensions import db
from config import normalise_database_url


def upgrade_database(url):
    """Apply every migration to the database at url."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        ensure_schema()
        db.engine.dispose()


def postgres_engine(url):
    """An engine that keeps no idle connections (so nothing blocks DDL later)."""
    return create_engine(normalise_database_url(url), poolclass=NullPool)


class MigratedSQLite:
    """A migrated SQLite file; each test gets its own copy."""

    def __init__(self, path):
        self.path = path

    def fresh(self, tmp_path):
        copy = tmp_path / "test.db"
        shutil.copyfile(self.path, copy)
        return f"sqlite:///{copy}"


class MigratedPostgres:
    """The migrated PostgreSQL test database; each test starts with every table truncated."""

    def __init__(self, url):
        self.url = normalise_database_url(url)
        self.engine = postgres_engine(self.url)

    def fresh(self, tmp_path):
        truncate_tables(self.engine)
        return self.url


def migrated_sqlite(path):
    upgrade_database(f"sqlite:///{path}")
    return MigratedSQLite(path)


def migrated_postgres(url):
    reset_schema(url)
    upgrade_database(normalise_database_url(url))
    return MigratedPostgres(url)


def reset_schema(url):
    """Drop everything in the database's public schema (tables, alembic_version, sequences)."""
    engine = postgres_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SET lock_timeout = '20s'"))
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def truncate_tables(engine):
    """Empty every model table and restart the id sequences, in one statement."""
    quote = engine.dialect.identifier_preparer.quote
    tables = ", ".join(quote(table.name) for table in db.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text("SET lock_timeout = '20s'"))
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@contextmanager
def worker_postgres(url, worker):
    """A database of its own for one pytest-xdist worker (`<test database>_<worker>`), dropped after."""
    base = make_url(normalise_database_url(url))
    name = f"{base.database}_{worker}"
    admin = create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
