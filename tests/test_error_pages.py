"""Friendly 404, 405, 429 and 500 pages: plain words, a way back, the site's look, no traceback."""

import pytest
from sqlalchemy import select

from app import create_app
from app.database import dispose_engines
from app.extensions import db
from app.models import User
from tests.support.web import csrf_token


def assert_friendly(page, code, title):
    assert page.status_code == code
    assert page.mimetype == "text/html"
    text = page.text
    assert f'<h1 id="error-title">{title}</h1>' in text
    assert 'href="/static/style.css?v=' in text  # the site's own look (fingerprinted URL)
    assert 'class="button primary" href="/"' in text  # a way back
    assert "Traceback" not in text
    assert "Content-Security-Policy" in page.headers


def test_404_page(client):
    assert_friendly(client.get("/no/such/page"), 404, "Page not found")


def test_405_page(client):
    assert_friendly(client.get("/login/nickname/cancel"), 405, "Method not allowed")


def test_404_page_for_signed_in_user_keeps_the_nav(client, auth):
    auth.login("alice")
    page = client.get("/no/such/page")
    assert 'id="logout"' in page.text
    assert "Sign in</a>" not in page.text


@pytest.fixture
def limited_app(database_url):
    """The testing app with a low sign-in limit, on the test database (emptied for each test)."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url, "LOGIN_RATE_LIMIT": "2 per minute"})
    yield app
    with app.app_context():
        db.session.remove()
        dispose_engines()


def test_429_page(limited_app):
    client = limited_app.test_client()
    token = csrf_token(client.get("/login").text)
    answers = [client.post("/login", data={"csrf_token": token, "openid": ""}) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert_friendly(answers[2], 429, "Too many requests")
    assert "Please wait a minute" in answers[2].text


def test_500_page(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    page = app.test_client().get("/boom")
    assert_friendly(page, 500, "Something went wrong")
    assert "secret internals" not in page.text
    assert "It is not your fault" in page.text


def test_500_page_rolls_back_what_the_failed_request_wrote(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    seen_after_the_page = []

    @app.get("/half-done")
    def half_done():
        db.session.add(User(nickname="half-made", session_token="half-made-token"))
        db.session.flush()  # written inside the request's transaction, not committed
        raise RuntimeError("failed halfway")

    @app.teardown_request
    def look_at_the_session(exc):
        # Runs after the error page, before the app context ends: what the session holds then.
        seen_after_the_page.append(db.session.scalars(select(User.nickname)).all())

    client = app.test_client()
    assert_friendly(client.get("/half-done"), 500, "Something went wrong")
    assert seen_after_the_page == [[]]
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []
    assert client.get("/login").status_code == 200  # the next request is served normally
