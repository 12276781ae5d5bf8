"""Device sessions and the account page without a provider round trip: loading, expiry, housekeeping."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.auth.devices import describe_user_agent
from app.extensions import db
from app.models import UserSession, utcnow
from tests.support.queries import recorded_queries
from tests.support.web import csrf_token


def set_device(app, **values):
    with app.app_context():
        db.session.execute(update(UserSession).values(**values))
        db.session.commit()


def device_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UserSession))


@pytest.mark.parametrize(
    ("header", "summary"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Safari/537.36 Edg/126.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/126.0 Safari/537.36", "Chrome (headless) on Linux"),
        ("python-requests/2.32", "Python requests"),
        ("", "Unknown browser"),
        ("<script>x</script>" * 20, "Unknown browser"),
    ],
)
def test_user_agents_are_summarised_never_stored_raw(header, summary):
    assert describe_user_agent(header) == summary


def test_last_active_is_updated_coarsely_not_on_every_request(app, client, auth):
    auth.login("reader")
    with recorded_queries(app) as queries:
        client.get("/")
    assert not any(q.startswith("UPDATE") for q, _ in queries)  # just signed in: nothing to move

    set_device(app, last_seen_at=utcnow() - timedelta(hours=1))
    with recorded_queries(app) as queries:
        client.get("/")
        client.get("/")
    assert [q for q, _ in queries if q.startswith("UPDATE")] != []
    assert sum(q.startswith("UPDATE") for q, _ in queries) == 1  # the second request found it fresh
    with app.app_context():
        seen = db.session.scalar(select(UserSession.last_seen_at))
    assert utcnow() - seen.replace(tzinfo=utcnow().tzinfo) < timedelta(minutes=1)


def test_an_expired_device_session_signs_no_one_in_and_housekeeping_removes_it(app, client, auth, runner):
    auth.login("reader")
    assert "Hi, reader!" in client.get("/").get_data(as_text=True)
    set_device(app, expires_at=utcnow() - timedelta(seconds=1))
    assert client.get("/profile/edit").status_code == 302
    result = runner.invoke(args=["housekeeping"])
    assert result.exit_code == 0 and "1 expired device sessions" in result.output
    assert device_count(app) == 0
    again = runner.invoke(args=["openid-cleanup"])  # the old name still works
    assert again.exit_code == 0 and "0 expired device sessions" in again.output


def test_the_nav_bar_links_to_the_account_page(client, auth):
    auth.login("reader")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/account" id="nav-account"' in html and ">Account</span></a>" in html
    page = client.get("/account").get_data(as_text=True)
    assert "Sign-in methods" in page and "Your devices" in page and "Security history" in page


def test_a_connect_start_needs_a_signed_in_user(app, client):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"csrf_token": token, "intent": "connect", "openid": "http://op.test/x"}
    )
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    with client.session_transaction() as session:
        assert "account_intent" not in session


def test_suspending_an_account_ends_its_device_sessions(app, client, auth, runner):
    auth.login("reader")
    assert client.get("/profile/edit").status_code == 200
    result = runner.invoke(args=["users", "suspend", "reader"])
    assert result.exit_code == 0, result.output
    assert device_count(app) == 0
    assert client.get("/profile/edit").status_code == 302  # this browser's cookie no longer signs in
