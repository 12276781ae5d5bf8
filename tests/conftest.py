"""Shared fixtures: app, client, runner, a live server and a separate OpenID provider.

The database is SQLite, or PostgreSQL when TEST_DATABASE_URL is set. Either way
the schema comes from the Alembic migrations, applied once per test run; each
test then starts from empty tables (a copy of the migrated SQLite file, or the
PostgreSQL tables truncated).
"""

import os

import pytest

from app import create_app
from app.extensions import db
from tests.support.databases import migrated_postgres, migrated_sqlite
from tests.support.openid_provider import TestOpenIDProvider
from tests.support.redis import redis_server_url
from tests.support.web import WebClient, live_site

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """A database at the latest migration, made once per run: the PostgreSQL test database or SQLite."""
    if TEST_DATABASE_URL:
        return migrated_postgres(TEST_DATABASE_URL)
    return migrated_sqlite(tmp_path_factory.mktemp("schema") / "migrated.db")


@pytest.fixture
def database_url(migrated_database, tmp_path):
    """The URL of an empty, fully migrated database for one test."""
    return migrated_database.fresh(tmp_path)


@pytest.fixture
def app(database_url):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """TEST_REDIS_URL, else a private redis-server started for this run; skips when neither exists."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    with redis_server_url(tmp_path_factory.mktemp("redis")) as url:
        if url is None:
            pytest.skip("needs Redis: set TEST_REDIS_URL or install redis-server")
        yield url


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def live_server(app):
    server = live_site(app).start()
    yield server
    server.stop()


@pytest.fixture
def browser(live_server):
    """A person's browser talking to the live server."""
    return WebClient(live_server.url)


@pytest.fixture
def openid_provider():
    provider = TestOpenIDProvider().start()
    yield provider
    provider.stop()


class AuthActions:
    """Sign a test-client user in without the OpenID round trip (for non-sign-in tests)."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def login(self, nickname="tester"):
        import time

        from app.auth.flow import VerifiedSignIn, find_or_create_user

        with self.app.app_context():
            user = find_or_create_user(VerifiedSignIn("openid2", f"http://op.test/{nickname}", nickname))
            token = user.session_token
        with self.client.session_transaction() as session:
            session["_user_id"] = token
            session["_fresh"] = True
            session["signed_in_at"] = int(time.time())
        return user


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)
