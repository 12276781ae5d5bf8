"""A database that is not at the latest migration is a clear failure: /healthz names the state, pages
answer the 503 page, the log says what to run, and gunicorn's start-up warns once."""

import json
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from app import create_app
from app.database import dispose_engines
from app.extensions import db
from app.ops.logs import StdoutHandler
from app.ops.schema import known_revisions
from tests.support.databases import upgrade_to
from tests.support.python_run import python_lines
from tests.support.scratch_databases import scratch_postgres

ROOT = Path(__file__).resolve().parent.parent
SECRET = "schema-state-test-secret-" + "s" * 40
HEAD = known_revisions()[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """An empty database (no tables at all) of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        sqlite3.connect(path).close()
        yield f"sqlite:///{path}"
        return
    with scratch_postgres("schema") as url:
        if url is None:
            pytest.skip("needs a PostgreSQL server (set TEST_DATABASE_URL)")
        yield url


@pytest.fixture
def production_app():
    """Build production apps; undo their root JSON log handler afterwards."""
    apps = []

    def make(url):
        app = create_app("production", {"SECRET_KEY": SECRET, "SQLALCHEMY_DATABASE_URI": url})
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            dispose_engines()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StdoutHandler)]:
        root.removeHandler(handler)


def warnings(capsys):
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return [e["message"] for e in lines if e["level"] == "WARNING"]


def test_healthz_names_an_unmigrated_database(empty_url, production_app, capsys):
    app = production_app(empty_url)
    capsys.readouterr()
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "not migrated"}
    [line] = warnings(capsys)
    assert "database schema is not migrated" in line and "run `flask db upgrade`" in line


def test_pages_on_an_unmigrated_database_answer_503_and_say_what_to_run(empty_url, production_app, capsys):
    app = production_app(empty_url)
    capsys.readouterr()
    response = app.test_client().get("/user/alice", base_url="https://localhost")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "Temporarily unavailable" in page and "being updated" in page
    [line] = warnings(capsys)
    assert line.startswith("database schema is not migrated") and "run `flask db upgrade`" in line


def test_healthz_names_a_database_behind_the_code(empty_url, production_app, capsys):
    upgrade_to(empty_url, "0001")
    app = production_app(empty_url)
    capsys.readouterr()
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "behind"}
    [line] = warnings(capsys)
    assert f"database schema is behind (at 0001, the code needs {HEAD})" in line
    assert "run `flask db upgrade`" in line


def test_healthz_is_ok_at_the_latest_migration(empty_url, production_app):
    upgrade_to(empty_url, "head")
    response = production_app(empty_url).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_a_revision_the_code_does_not_know_is_named(empty_url, production_app, capsys):
    upgrade_to(empty_url, "head")
    app = production_app(empty_url)
    with app.app_context():
        db.session.execute(db.text("UPDATE alembic_version SET version_num = 'f00d'"))
        db.session.commit()
    capsys.readouterr()
    response = app.test_client().get("/healthz")
    assert response.get_json()["database"] == "ahead"
    [line] = warnings(capsys)
    assert "at f00d, which this code does not know" in line


def gunicorn_check(url):
    """Run gunicorn.conf.py's start-up check (as the master does) and return its log lines."""
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('conf', 'gunicorn.conf.py')\n"
        "conf = importlib.util.module_from_spec(spec); spec.loader.exec_module(conf)\n"
        "class Log:\n"
        "    def warning(self, msg, *args): print('WARNING', msg % args)\n"
        "    def error(self, msg, *args): print('ERROR', msg % args)\n"
        "class Server: log = Log()\n"
        "conf.on_starting(Server())\n"
    )
    env = {**os.environ, "MICROBLOG_CONFIG": "production", "SECRET_KEY": SECRET, "DATABASE_URL": url}
    lines = python_lines(code, env)
    return lines


@pytest.mark.e2e
def test_gunicorn_start_up_warns_once_about_an_unmigrated_database(empty_url):
    [line] = gunicorn_check(empty_url)
    assert line.startswith("WARNING database schema is not migrated") and "flask db upgrade" in line
    upgrade_to(empty_url, "head")
    assert gunicorn_check(empty_url) == []


@pytest.mark.e2e
def test_gunicorn_start_up_does_not_create_a_missing_sqlite_file(tmp_path):
    missing = tmp_path / "not-there.db"
    [line] = gunicorn_check(f"sqlite:///{missing}")
    assert "not migrated" in line
    assert not missing.exists()


@pytest.mark.e2e
def test_gunicorn_start_up_warns_when_the_database_is_unreachable():
    [line] = gunicorn_check("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    assert line.startswith("WARNING database unreachable at start-up:") and "Traceback" not in line


def test_pages_on_a_database_behind_the_code_answer_503_and_say_what_to_run(
    empty_url, production_app, capsys
):
    upgrade_to(empty_url, "0002")  # before the columns that moderation added to "user"
    app = production_app(empty_url)
    capsys.readouterr()
    response = app.test_client().get("/", base_url="https://localhost")
    assert response.status_code == 503 and "being updated" in response.get_data(as_text=True)
    [line] = warnings(capsys)
    assert line.startswith("database schema is behind (at 0002") and "run `flask db upgrade`" in line
