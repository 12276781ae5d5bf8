"""Shared fixtures: app, client, runner, a live server and a separate OpenID provider."""

import os

import pytest

from app import create_app
from app.database import ensure_schema
from app.extensions import db
from tests.support.openid_provider import TestOpenIDProvider
from tests.support.web import LiveServer, WebClient


def database_url(tmp_path):
    """PostgreSQL when TEST_DATABASE_URL is set, else a fresh SQLite file."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app(tmp_path):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url(tmp_path)})
    with app.app_context():
        db.drop_all()
        ensure_schema()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
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

        from app.auth.accounts import VerifiedSignIn, find_or_create_user

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
