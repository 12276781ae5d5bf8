"""Test databases built from the Alembic migrations, emptied cheaply between tests.

SQLite: the migrated file is made once and copied for each test.
PostgreSQL: the test database's schema is rebuilt once per run, then every
table is emptied before each test (much faster than migrating every time).
"""

import shutil
from contextlib import contextmanager

from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from app import MIGRATIONS_DIR, create_app
from app.database import dispose_engines, ensure_schema
from app.extensions import db
from app.migrating import load_migrate
from config import normalise_database_url


def upgrade_database(url):
    """Apply every migration to the database at url."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        ensure_schema()
        dispose_engines()


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
    """The migrated PostgreSQL test database; each test starts with every table empty.

    The tables are emptied over one connection kept for the whole run: a new connection for each
    test (a new server process, its catalogue caches cold) made each reset about 25 ms instead of
    3-10 ms. Between resets it sits idle outside any transaction, so it holds no lock; it is checked
    before each use in case the server dropped it.
    """

    def __init__(self, url):
        self.url = normalise_database_url(url)
        self.engine = create_engine(self.url, pool_size=1, max_overflow=0, pool_pre_ping=True)

    def fresh(self, tmp_path):
        empty_tables(self.engine)
        return self.url


def migrated_sqlite(path):
    upgrade_database(f"sqlite:///{path}")
    return MigratedSQLite(path)


def migrated_postgres(url):
    reset_schema(url)
    upgrade_database(normalise_database_url(url))
    commit_without_waiting_for_disk(url)
    return MigratedPostgres(url)


def reset_schema(url):
    """Drop everything in the database's public schema (tables, alembic_version, sequences)."""
    engine = postgres_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SET lock_timeout = '20s'"))
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def commit_without_waiting_for_disk(url):
    """Let every later session on this test database commit without waiting for the WAL flush.

    Each commit then returns at once instead of after an fsync: rows are visible to every other
    session as soon as they are committed all the same; only a server crash could lose them.
    """
    engine = postgres_engine(url)
    with engine.begin() as connection:
        name = connection.execute(text("SELECT current_database()")).scalar_one()
        quoted = engine.dialect.identifier_preparer.quote(name)
        connection.execute(text(f"ALTER DATABASE {quoted} SET synchronous_commit = off"))
    engine.dispose()


# Every sequence of the schema back to its first value (as TRUNCATE ... RESTART IDENTITY would).
RESTART_SEQUENCES = """
SELECT setval(s.seqrelid, s.seqstart, false)
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
WHERE c.relnamespace = current_schema()::regnamespace
"""


def empty_tables(engine):
    """Delete every model table's rows (children first) and restart the id sequences.

    DELETE rather than TRUNCATE: on tables this small it is several times quicker, because TRUNCATE
    gives each table new files on disk (and syncs them) every time.
    """
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL lock_timeout = '20s'"))
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(text(f"DELETE FROM {quote(table.name)}"))
        connection.execute(text(RESTART_SEQUENCES))


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


def upgrade_to(url, revision):
    """Bring the database at url to one migration (an id, or "head") with Alembic, in this process."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    load_migrate(app)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision=revision)
        dispose_engines()
