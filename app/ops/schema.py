"""Is the database at the latest migration? Read without Alembic, so web workers never import it.

The expected revision comes from the migration files themselves (`revision = "..."`
lines); the database's from Alembic's `alembic_version` table.
"""

import ast
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from config import BASE_DIR

log = logging.getLogger(__name__)
VERSIONS_DIR = BASE_DIR / "migrations" / "versions"
VERSION_TABLE = "alembic_version"
UPGRADE_COMMAND = "flask db upgrade"
# Errors that mean "the table or column is not there" rather than "the database is not reachable".
MISSING_SCHEMA_SQLSTATES = {"42P01", "42703"}  # PostgreSQL: undefined_table, undefined_column
MISSING_SCHEMA_SQLITE = ("no such table", "no such column", "has no column named")


@dataclass(frozen=True)
class SchemaState:
    """Where the database stands: "ok", "not migrated", "behind" or "ahead", and the revisions."""

    state: str
    current: str | None
    expected: str

    @property
    def ok(self) -> bool:
        """Whether the database is exactly at the latest migration."""
        return self.state == "ok"

    def advice(self) -> str:
        """One log line saying what is wrong and what to run."""
        if self.state == "not migrated":
            return (
                f"database schema is not migrated (no migration applied; the code needs {self.expected}): "
                f"run `{UPGRADE_COMMAND}` with this site's settings, then reload"
            )
        if self.state == "behind":
            return (
                f"database schema is behind (at {self.current}, the code needs {self.expected}): "
                f"run `{UPGRADE_COMMAND}` with this site's settings, then reload"
            )
        if self.state == "ahead":
            return (
                f"database schema is ahead (at {self.current}, which this code does not know; it needs "
                f"{self.expected}): deploy the release that migrated it, or downgrade the database"
            )
        return f"database schema is at the latest migration ({self.expected})"


def _literal(node: ast.expr) -> object:
    """The value of a literal assignment in a migration file (a string, None or a tuple)."""
    return ast.literal_eval(node)


def _revision_links(path: Path) -> tuple[str, tuple[str, ...]]:
    """A migration file's revision and the revisions it follows."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("revision", "down_revision"):
                values[node.targets[0].id] = _literal(node.value)
    down = values.get("down_revision")
    # down_revision is None, one revision, or a tuple of them (a merge).
    parents = () if down is None else (down,) if isinstance(down, str) else tuple(cast("Iterable[str]", down))
    return str(values["revision"]), parents


@lru_cache(maxsize=1)
def known_revisions() -> tuple[frozenset[str], str]:
    """Every revision in migrations/versions, and the single head (the latest migration)."""
    links = dict(_revision_links(path) for path in sorted(VERSIONS_DIR.glob("*.py")))
    parents = {parent for down in links.values() for parent in down}
    heads = sorted(set(links) - parents)
    return frozenset(links), "+".join(heads)


def database_revisions(connection: Connection) -> list[str] | None:
    """The revisions recorded in the database, or None when it has no version table."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return sorted(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def schema_state(connection: Connection) -> SchemaState:
    """Compare the database's recorded revision with the latest migration file."""
    known, head = known_revisions()
    recorded = database_revisions(connection)
    if not recorded:
        return SchemaState("not migrated", None, head)
    current = "+".join(recorded)
    if current == head:
        return SchemaState("ok", current, head)
    if all(revision in known for revision in recorded):
        return SchemaState("behind", current, head)
    return SchemaState("ahead", current, head)


def sqlite_file_missing(engine: Engine) -> bool:
    """Whether the engine is an SQLite file that does not exist yet (connecting would create it)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    return not Path(url.database).exists()


def engine_schema_state(engine: Engine) -> SchemaState:
    """The schema state through an engine, without creating a missing SQLite file."""
    if sqlite_file_missing(engine):
        return SchemaState("not migrated", None, known_revisions()[1])
    with engine.connect() as connection:
        return schema_state(connection)


def looks_like_missing_schema(error: SQLAlchemyError) -> bool:
    """Whether a database error says a table or column does not exist (not migrated, or behind)."""
    if not isinstance(error, DBAPIError):
        return False
    original = error.orig
    if getattr(original, "sqlstate", None) in MISSING_SCHEMA_SQLSTATES:
        return True
    return str(original).lower().startswith(MISSING_SCHEMA_SQLITE)


def startup_check(url: str, warn: Callable[..., object]) -> None:
    """Log once (through warn) when the database at url is not at the latest migration, or unreachable."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from app.ops.startup import database_error_line

    engine = create_engine(url, poolclass=NullPool)
    try:
        state = engine_schema_state(engine)
    except SQLAlchemyError as exc:
        warn("database unreachable at start-up: %s", database_error_line(exc, url))
        return
    finally:
        engine.dispose()
    if not state.ok:
        warn("%s", state.advice())
