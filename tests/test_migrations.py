"""Migrations: every one applies to empty SQLite and PostgreSQL databases and matches the models."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade
from sqlalchemy import create_engine, insert, inspect, make_url, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from app import MIGRATIONS_DIR, create_app
from app.database import ensure_schema
from app.extensions import db
from app.migrating import load_migrate
from app.models import User
from config import normalise_database_url
from tests.support.databases import upgrade_database, upgrade_to
from tests.support.python_run import python_lines

ROOT = Path(__file__).resolve().parent.parent
# The server for the PostgreSQL-only tests: the test database's, else a local one if it answers.
POSTGRES_SERVER = (
    os.environ.get("TEST_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def script_heads():
    return tuple(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


@pytest.fixture
def empty_sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def empty_postgres():
    """A brand-new PostgreSQL database next to the test database, dropped afterwards."""
    server = make_url(normalise_database_url(POSTGRES_SERVER))
    name = f"{server.database}_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        admin.dispose()
        pytest.skip("needs a PostgreSQL server: none answers (set TEST_DATABASE_URL)")
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request):
    return request.getfixturevalue("empty_sqlite" if request.param == "sqlite" else "empty_postgres")


def schema_drift(url):
    """Alembic's list of differences between the database at url and the models (empty = none)."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata), context.get_current_heads()


def tables(url):
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_have_a_single_head():
    assert len(script_heads()) == 1, "two migrations revise the same parent: merge them"


def test_migrations_applied_to_an_empty_database_match_the_models(empty_database):
    assert tables(empty_database) == set()
    upgrade_database(empty_database)
    drift, heads = schema_drift(empty_database)
    assert drift == []
    assert heads == script_heads()


def test_every_migration_downgrades_and_applies_again(empty_database):
    upgrade_database(empty_database)
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database})
    load_migrate(app)
    with app.app_context():
        downgrade(directory=str(MIGRATIONS_DIR), revision="base")
        assert tables(empty_database) <= {"alembic_version"}
        ensure_schema()
        db.engine.dispose()
    assert schema_drift(empty_database)[0] == []


def run_tool(args, url):
    env = {**os.environ, "MICROBLOG_CONFIG": "testing", "DATABASE_URL": url, "FLASK_APP": "app"}
    env.pop("SQLALCHEMY_DATABASE_URI", None)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def add_user(url, nickname):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.session.execute(insert(User).values(nickname=nickname, session_token=f"t-{nickname}"))
        db.session.commit()
        db.engine.dispose()


def nicknames(url):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        names = db.session.scalars(select(User.nickname).order_by(User.id)).all()
        db.engine.dispose()
        return names


@pytest.mark.e2e
def test_db_create_and_flask_db_upgrade_are_safe_to_run_again(empty_database):
    flask = str(Path(sys.executable).with_name("flask"))
    first = run_tool([sys.executable, "db_create.py"], empty_database)
    assert first.returncode == 0, first.stderr
    assert "Database ready" in first.stdout
    add_user(empty_database, "kept")
    for args in (
        [sys.executable, "db_create.py"],
        [flask, "db", "upgrade"],
        [sys.executable, "db_create.py"],
    ):
        again = run_tool(args, empty_database)
        assert again.returncode == 0, again.stderr
    assert nicknames(empty_database) == ["kept"]
    assert schema_drift(empty_database)[0] == []


def test_a_database_made_before_migrations_is_adopted_without_losing_rows(empty_sqlite):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_sqlite})
    with app.app_context():
        db.create_all()  # how the schema was made before migrations
        db.session.execute(insert(User).values(nickname="old-timer", session_token="t"))
        db.session.commit()
        ensure_schema()
        db.engine.dispose()
    drift, heads = schema_drift(empty_sqlite)
    assert drift == [] and heads == script_heads()
    assert nicknames(empty_sqlite) == ["old-timer"]


@pytest.mark.e2e
def test_upgrades_started_together_on_postgresql_wait_for_each_other(empty_postgres):
    processes = [
        subprocess.Popen(
            [sys.executable, "db_create.py"],
            cwd=ROOT,
            env={**os.environ, "MICROBLOG_CONFIG": "testing", "DATABASE_URL": empty_postgres},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in processes]
    assert [code for _, _, code in results] == [0, 0, 0], [err for _, err, _ in results]
    assert schema_drift(empty_postgres)[0] == []


@pytest.mark.e2e
def test_serving_pages_never_imports_alembic():
    """Flask-Migrate (and Alembic, ~11 MB per worker) load only for migrations."""
    code = (
        "import sys; from app import create_app; app = create_app('testing');"
        "app.test_client().get('/login'); print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('alembic', 'flask_migrate', 'mako')))"
    )
    lines = python_lines(code)
    assert lines == ["[]"]


@pytest.mark.e2e
def test_flask_db_commands_are_listed_and_work(empty_sqlite):
    flask = str(Path(sys.executable).with_name("flask"))
    listed = run_tool([flask, "db", "--help"], empty_sqlite)
    assert listed.returncode == 0 and "upgrade" in listed.stdout and "migrate" in listed.stdout
    assert run_tool([flask, "db", "upgrade"], empty_sqlite).returncode == 0
    current = run_tool([flask, "db", "current"], empty_sqlite)
    assert current.returncode == 0 and f"{script_heads()[0]} (head)" in current.stdout


def test_migration_0005_counts_the_posts_that_exist_and_indexes_them_for_keyset_pages(empty_database):
    upgrade_to(empty_database, "0004")
    engine = create_engine(empty_database, poolclass=NullPool)
    with engine.begin() as connection:
        for user_id, nickname, posts in ((1, "prolific", 3), (2, "quiet", 0), (3, "once", 1)):
            connection.execute(
                text(
                    'INSERT INTO "user" (id, nickname, created_at, session_token, sign_in_count)'
                    " VALUES (:id, :nickname, CURRENT_TIMESTAMP, :nickname, 0)"
                ),
                {"id": user_id, "nickname": nickname},
            )
            for n in range(posts):
                connection.execute(
                    text(
                        "INSERT INTO post (body, timestamp, user_id) VALUES (:body, CURRENT_TIMESTAMP, :id)"
                    ),
                    {"body": f"{nickname} {n}", "id": user_id},
                )
    upgrade_to(empty_database, "head")
    with engine.connect() as connection:
        counts = connection.execute(text('SELECT nickname, post_count FROM "user" ORDER BY id')).all()
        indexes = {index["name"]: index["column_names"] for index in inspect(connection).get_indexes("post")}
    engine.dispose()
    assert [tuple(row) for row in counts] == [("prolific", 3), ("quiet", 0), ("once", 1)]
    assert indexes["ix_post_user_id_timestamp_id"] == ["user_id", "timestamp", "id"]
    assert indexes["ix_post_timestamp_id"] == ["timestamp", "id"]
    assert "ix_post_timestamp" not in indexes and "ix_post_user_id" not in indexes  # replaced
