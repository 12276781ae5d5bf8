"""The first sign-in's "Choose your nickname" step: end to end, and its edge cases."""

import time

import pytest
from sqlalchemy import select

from app.auth.flow import PENDING_KEY, PENDING_LIFETIME
from app.extensions import db
from app.models import Identity, User
from tests.support.web import csrf_token, flashes, nickname_value


def users(app):
    with app.app_context():
        return [(u.nickname, u.email) for u in db.session.scalars(select(User).order_by(User.id))]


def identities(app):
    with app.app_context():
        return [
            (i.subject, i.user.nickname) for i in db.session.scalars(select(Identity).order_by(Identity.id))
        ]


def add_user(app, nickname, subject=None):
    with app.app_context():
        user = User(nickname=nickname)
        user.identities.append(Identity(issuer="openid2", subject=subject or f"http://op.test/{nickname}"))
        db.session.add(user)
        db.session.commit()


# --- End to end over HTTP, with the local test provider -----------------------------------------


def test_no_nickname_from_provider_asks_for_one_and_creates_account_on_confirm(app, browser, live_server):
    step = browser.sign_in_local("bob", nickname="", email="")
    assert step.url == live_server.url + "/login/nickname"
    assert "Choose your nickname" in step.text
    assert nickname_value(step.text) == "user-bob"  # derived from the identity URL
    assert "Local test provider" in step.text
    assert users(app) == []  # nothing is created before the person confirms

    home = browser.choose_nickname(step, "bobby")
    assert home.url == live_server.url + "/"
    assert "Hi, bobby!" in home.text
    assert ("success", "Welcome to Microblog, bobby!") in flashes(home.text)
    assert users(app) == [("bobby", None)]
    assert identities(app) == [(live_server.url + "/dev-openid/bob", "bobby")]


def test_suggestion_can_be_accepted_as_is(app, browser):
    step = browser.sign_in_local("bob", nickname="", email="")
    home = browser.choose_nickname(step, nickname_value(step.text))
    assert "Hi, user-bob!" in home.text
    assert users(app) == [("user-bob", None)]


def test_taken_nickname_asks_with_a_free_suggestion(app, browser):
    add_user(app, "alice")
    step = browser.sign_in_local("other", nickname="alice", email="alice@example.test")
    assert "Choose your nickname" in step.text
    assert nickname_value(step.text) == "alice-2"
    home = browser.choose_nickname(step, "alice-2")
    assert "Hi, alice-2!" in home.text
    assert users(app) == [("alice", None), ("alice-2", "alice@example.test")]


def test_taken_nickname_differing_only_in_case_asks_too(app, browser):
    add_user(app, "Alice")
    step = browser.sign_in_local("other", nickname="alice", email="")
    assert "Choose your nickname" in step.text
    assert nickname_value(step.text) == "alice-2"


def test_email_local_part_is_a_usable_nickname(app, browser):
    home = browser.sign_in_local("carol", nickname="", email="caroline@example.test")
    assert "Hi, caroline!" in home.text
    assert users(app) == [("caroline", "caroline@example.test")]


def test_known_identity_never_sees_the_step(app, browser, live_server):
    step = browser.sign_in_local("bob", nickname="", email="")
    browser.choose_nickname(step, "bobby")
    browser.logout()
    home = browser.sign_in_local("bob", nickname="", email="")
    assert home.url == live_server.url + "/"
    assert "Hi, bobby!" in home.text
    assert len(users(app)) == 1


def test_invalid_nickname_is_shown_inline_and_kept(app, browser, live_server):
    step = browser.sign_in_local("bob", nickname="", email="")
    page = browser.choose_nickname(step, "no spaces!")
    assert page.url == live_server.url + "/login/nickname"
    assert 'class="field-error"' in page.text
    assert "Use letters, digits" in page.text
    assert 'aria-invalid="true"' in page.text
    assert nickname_value(page.text) == "no spaces!"
    page = browser.choose_nickname(page, "")
    assert "Please choose a nickname." in page.text
    assert users(app) == []


def test_nickname_taken_meanwhile_is_refused_inline(app, browser):
    step = browser.sign_in_local("bob", nickname="", email="")
    add_user(app, "bobby")
    page = browser.choose_nickname(step, "BOBBY")
    assert "is taken" in page.text
    assert nickname_value(page.text) == "BOBBY"
    assert users(app) == [("bobby", None)]


def test_cancel_creates_nothing_and_returns_to_login(app, browser, live_server):
    step = browser.sign_in_local("bob", nickname="", email="")
    page = browser.cancel_nickname(step)
    assert page.url.startswith(live_server.url + "/login")
    assert ("info", "Sign-in cancelled. No account was created.") in flashes(page.text)
    assert users(app) == []
    # The pending sign-in is gone: confirming now does nothing.
    again = browser.choose_nickname(page, "bobby")
    assert again.url.startswith(live_server.url + "/login")
    assert users(app) == []


def test_confirm_without_csrf_token_is_refused(app, browser):
    browser.sign_in_local("bob", nickname="", email="")
    page = browser.post("/login/nickname", {"nickname": "bobby"})
    assert page.status_code == 400
    assert users(app) == []


def test_step_keeps_remember_me_and_next(app, browser, live_server):
    step = browser.sign_in_local(
        "bob", remember=True, next_url="/user/bobby?before=9999999999999999-1", nickname="", email=""
    )
    page = browser.choose_nickname(step, "bobby")
    assert page.url == live_server.url + "/user/bobby?before=9999999999999999-1"
    cookies = {c.name: c for c in browser.http.cookies}
    assert "remember_token" in cookies
    assert cookies["session"].expires is not None  # kept when the browser closes


def test_step_without_remember_me_gives_a_browser_session(app, browser, live_server):
    step = browser.sign_in_local("bob", nickname="", email="")
    browser.choose_nickname(step, "bobby")
    cookies = {c.name: c for c in browser.http.cookies}
    assert "remember_token" not in cookies
    assert cookies["session"].expires is None  # gone when the browser closes


def test_directed_identity_without_profile_asks_for_a_nickname(app, browser, live_server, openid_provider):
    openid_provider.behaviour.select_name = "76561197960287930"
    step = browser.start_sign_in(openid_provider.op_identifier)
    assert step.url == live_server.url + "/login/nickname"
    assert nickname_value(step.text) == "user-76561197960287930"
    assert "OpenID (127.0.0.1)" in step.text
    home = browser.choose_nickname(step, "gabe")
    assert "Hi, gabe!" in home.text
    assert identities(app) == [(openid_provider.identity("76561197960287930"), "gabe")]


# --- The step on its own, with a pending sign-in put in the session ------------------------------


def put_pending(client, created_at=None, **overrides):
    pending = {
        "issuer": "https://issuer.example",
        "subject": "subject-123",
        "nickname": None,
        "email": "pat@example.test",
        "remember": False,
        "next": None,
        "created_at": int(time.time()) if created_at is None else created_at,
    }
    pending.update(overrides)
    with client.session_transaction() as session:
        session[PENDING_KEY] = pending


def test_step_is_protocol_neutral(app, client):
    put_pending(client, email=None)
    page = client.get("/login/nickname")
    assert page.status_code == 200
    assert "issuer.example" in page.text
    assert nickname_value(page.text) == "user-subject-123"
    answer = client.post("/login/nickname", data={"csrf_token": csrf_token(page.text), "nickname": "pat"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    with app.app_context():
        [identity] = db.session.scalars(select(Identity)).all()
        assert (identity.issuer, identity.subject, identity.user.nickname) == (
            "https://issuer.example",
            "subject-123",
            "pat",
        )


def test_pending_sign_in_expires_after_ten_minutes(app, client):
    put_pending(client)
    page = client.get("/login/nickname")
    put_pending(client, created_at=int(time.time()) - PENDING_LIFETIME - 1)
    answer = client.post(
        "/login/nickname",
        data={"csrf_token": csrf_token(page.text), "nickname": "pat"},
        follow_redirects=True,
    )
    assert answer.request.path == "/login"
    assert ("info", "Your sign-in waited more than 10 minutes. Please sign in again.") in flashes(answer.text)
    assert users(app) == []
    with client.session_transaction() as session:
        assert PENDING_KEY not in session


def test_expired_pending_sign_in_cannot_be_shown(app, client):
    put_pending(client, created_at=int(time.time()) - PENDING_LIFETIME - 1)
    answer = client.get("/login/nickname", follow_redirects=True)
    assert answer.request.path == "/login"
    assert "Please sign in again" in answer.text


def test_pending_sign_in_dated_in_the_future_is_refused(app, client):
    put_pending(client, created_at=int(time.time()) + 3600)  # would otherwise outlive its ten minutes
    answer = client.get("/login/nickname", follow_redirects=True)
    assert answer.request.path == "/login"
    assert ("info", "Your sign-in waited more than 10 minutes. Please sign in again.") in flashes(answer.text)
    assert users(app) == []
    with client.session_transaction() as session:
        assert PENDING_KEY not in session


def test_step_without_pending_sign_in_goes_to_login(client):
    answer = client.get("/login/nickname", follow_redirects=True)
    assert answer.request.path == "/login"
    assert ("info", "There is no sign-in waiting for a nickname. Please sign in.") in flashes(answer.text)


@pytest.mark.parametrize(
    "pending",
    [
        "not a dict",
        {"issuer": "", "subject": "x", "created_at": 1},
        {"issuer": "i", "subject": "s", "created_at": "yesterday"},
        {"issuer": "i", "subject": 5, "created_at": 1},
    ],
)
def test_malformed_pending_sign_in_is_ignored(client, pending):
    with client.session_transaction() as session:
        session[PENDING_KEY] = pending
    answer = client.get("/login/nickname", follow_redirects=True)
    assert answer.request.path == "/login"


def test_identity_linked_meanwhile_signs_in_that_account(app, client):
    put_pending(client, issuer="openid2", subject="http://op.test/pat")
    page = client.get("/login/nickname")
    add_user(app, "patricia", subject="http://op.test/pat")
    answer = client.post("/login/nickname", data={"csrf_token": csrf_token(page.text), "nickname": "pat"})
    assert answer.status_code == 302
    assert "Hi, patricia!" in client.get("/").text
    assert users(app) == [("patricia", None)]


def test_unsafe_next_in_pending_sign_in_is_not_followed(app, client):
    put_pending(client, next="//evil.example/")
    page = client.get("/login/nickname")
    answer = client.post("/login/nickname", data={"csrf_token": csrf_token(page.text), "nickname": "pat"})
    assert answer.headers["Location"] == "/"


def test_cancel_keeps_the_safe_next_for_the_next_try(client):
    put_pending(client, next="/user/someone")
    page = client.get("/login/nickname")
    answer = client.post("/login/nickname/cancel", data={"csrf_token": csrf_token(page.text)})
    assert answer.headers["Location"] == "/login?next=/user/someone"


def test_nickname_step_page_is_escaped(client):
    put_pending(client, nickname="<b>x</b>", issuer="openid2", subject="http://<i>.example/x")
    page = client.get("/login/nickname")
    assert "<b>x</b>" not in page.text and "<i>" not in page.text
