"""End-to-end sign-in over real HTTP: the app on loopback, real OpenID providers."""

from sqlalchemy import event, select

from app.extensions import db
from app.models import Identity, User
from tests.support.queries import recorded_queries
from tests.support.web import (
    LOCAL_PROVIDER_INDEX,
    SIGNED_IN_ONLY,
    WebClient,
    csrf_token,
    flashes,
    nickname_value,
)


def users(app):
    with app.app_context():
        return db.session.scalars(select(User).order_by(User.id)).all()


def identities(app):
    with app.app_context():
        return [
            (i.subject, i.user.nickname) for i in db.session.scalars(select(Identity).order_by(Identity.id))
        ]


def test_local_provider_first_sign_in_creates_user(app, browser, live_server):
    page = browser.sign_in_local("alice", nickname="alice", email="alice@example.test")
    assert page.url == live_server.url + "/"
    assert "Hi, alice!" in page.text
    [user] = users(app)
    assert user.nickname == "alice" and user.email == "alice@example.test"
    assert identities(app) == [(live_server.url + "/dev-openid/alice", "alice")]


def test_second_sign_in_is_same_user(app, browser, live_server):
    browser.sign_in_local("alice")
    browser.logout()
    page = browser.sign_in_local("alice", nickname="renamed-at-provider")
    assert "Hi, alice!" in page.text
    assert len(users(app)) == 1


def test_anonymous_visit_to_a_private_page_goes_to_login_with_message(browser, live_server):
    page = browser.get("/profile/edit?from=1")
    assert page.url == live_server.url + "/login?next=/profile/edit?from%3D1"
    assert ("info", "Please sign in to see this page.") in flashes(page.text)


def test_next_survives_the_round_trip(browser, live_server):
    page = browser.sign_in_local("alice", next_url="/index?before=1893456000000000-1")
    assert page.url == live_server.url + "/index?before=1893456000000000-1"
    assert "Hi, alice!" in page.text


def test_remember_me_keeps_a_fresh_browser_signed_in(browser, live_server):
    browser.sign_in_local("alice", remember=True)
    remember = browser.http.cookies.get("remember_token")
    assert remember
    fresh = WebClient(live_server.url)
    fresh.http.cookies.set("remember_token", remember, domain="127.0.0.1")
    page = fresh.get("/")
    assert page.url == live_server.url + "/" and "Hi, alice!" in page.text


def test_without_remember_me_there_is_no_remember_cookie(browser, live_server):
    page = browser.sign_in_local("alice", remember=False)
    assert "Hi, alice!" in page.text
    assert "remember_token" not in browser.http.cookies


def test_cancel_at_provider_signs_no_one_in(app, browser, live_server):
    approval = browser.start_sign_in(provider=LOCAL_PROVIDER_INDEX, username="alice")
    page = browser.decide(approval, approve=False)
    assert page.url.startswith(live_server.url + "/login")
    assert ("error", "Sign-in was cancelled at the provider.") in flashes(page.text)
    assert users(app) == []
    assert browser.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")


def test_unreachable_provider_shows_a_message(app, browser, live_server):
    page = browser.start_sign_in("http://127.0.0.1:9/nobody")
    assert page.url.startswith(live_server.url + "/login")
    [(category, message)] = flashes(page.text)
    assert category == "error" and "could not find an OpenID provider" in message
    assert users(app) == []


def test_bad_identifier_keeps_what_was_typed(browser):
    page = browser.start_sign_in("ftp://example.com/me", remember=True)
    assert page.status_code == 200
    assert ("error", "An OpenID must be an http or https address.") in flashes(page.text)
    assert 'value="ftp://example.com/me"' in page.text


def test_provider_asserting_someone_elses_email_gets_its_own_account(
    app, browser, live_server, openid_provider
):
    browser.sign_in_local("alice", email="alice@example.test")
    browser.logout()
    openid_provider.behaviour.profiles["mallory"] = {"nickname": "alice", "email": "alice@example.test"}
    step = browser.start_sign_in(openid_provider.identity("mallory"))
    # The nickname it sends is taken: the first sign-in asks, suggesting a free one.
    assert "Choose your nickname" in step.text and users(app)[1:] == []
    assert nickname_value(step.text) == "alice-2"
    page = browser.choose_nickname(step, "alice-2")
    assert "Hi, alice-2!" in page.text
    assert [(u.nickname, u.email) for u in users(app)] == [
        ("alice", "alice@example.test"),
        ("alice-2", "alice@example.test"),
    ]
    assert identities(app)[1] == (openid_provider.identity("mallory"), "alice-2")


def test_someone_elses_email_with_a_free_nickname_still_gets_its_own_account(app, browser, openid_provider):
    """No nickname step in the way: the account is created at once, and still never matched by email."""
    browser.sign_in_local("alice", email="alice@example.test")
    browser.logout()
    openid_provider.behaviour.profiles["mallory"] = {"nickname": "mallory", "email": "alice@example.test"}
    page = browser.start_sign_in(openid_provider.identity("mallory"))
    assert "Hi, mallory!" in page.text
    assert [u.nickname for u in users(app)] == ["alice", "mallory"]
    assert identities(app)[1] == (openid_provider.identity("mallory"), "mallory")


def test_provider_sending_no_profile_gets_a_derived_nickname(app, browser, openid_provider):
    openid_provider.behaviour.select_name = "7656119"
    step = browser.start_sign_in(openid_provider.op_identifier)
    # No nickname: the derived one is the suggestion on the "Choose your nickname" step.
    assert "Choose your nickname" in step.text and users(app) == []
    assert nickname_value(step.text) == "user-7656119"
    page = browser.choose_nickname(step, nickname_value(step.text))
    assert "Hi, user-7656119!" in page.text
    [user] = users(app)
    assert user.email is None
    assert identities(app) == [(openid_provider.identity("7656119"), "user-7656119")]


def test_yadis_discovery_of_a_user_identifier(app, browser, openid_provider):
    openid_provider.behaviour.profiles["dave"] = {"nickname": "dave"}
    page = browser.start_sign_in(openid_provider.yadis_identity("dave"))
    assert "Hi, dave!" in page.text
    assert identities(app) == [(openid_provider.yadis_identity("dave"), "dave")]


def test_long_answer_comes_back_as_a_form_post(app, browser, live_server, openid_provider):
    openid_provider.behaviour.profiles["erin"] = {"nickname": "erin"}
    openid_provider.behaviour.pad_bytes = 3000
    form_page = browser.start_sign_in(openid_provider.identity("erin"))
    assert form_page.url.startswith(openid_provider.base_url), "expected the provider's auto-submit form"
    page = browser.submit_autoform(form_page)
    assert page.url == live_server.url + "/"
    assert "Hi, erin!" in page.text


def test_associations_prefer_hmac_sha256(browser, openid_provider):
    browser.start_sign_in(openid_provider.identity("frank"))
    associate = [r for r in openid_provider.requests if r.get("openid.mode") == "associate"]
    assert associate and associate[0]["openid.assoc_type"] == "HMAC-SHA256"


def test_logout_clears_session_and_remember_cookie(app, browser, live_server):
    browser.sign_in_local("alice", remember=True)
    assert browser.http.cookies.get("remember_token")
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(browser.http.cookies.get("session"))
    data.update(login_next="/somewhere", kept_from_before="x")
    browser.http.cookies.set("session", serializer.dumps(data), domain="127.0.0.1")
    page = browser.logout()
    assert ("info", "You have been signed out.") in flashes(page.text)
    assert "remember_token" not in browser.http.cookies
    left = serializer.loads(browser.http.cookies.get("session"))
    assert not {"_user_id", "signed_in_at", "login_next", "kept_from_before"} & set(left)
    assert browser.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")


def test_get_logout_signs_no_one_out(browser, live_server):
    browser.sign_in_local("alice")
    page = browser.get("/logout")
    assert page.status_code == 200
    assert "Hi, alice!" in browser.get("/").text


def test_signed_in_user_visiting_or_posting_login_goes_to_index(browser, live_server, openid_provider):
    browser.sign_in_local("alice")
    page = browser.get("/login")
    assert page.url == live_server.url + "/"
    home = browser.get("/")
    response = browser.post(
        "/login",
        {"csrf_token": csrf_token(home.text), "openid": openid_provider.identity("bob")},
        allow_redirects=False,
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert openid_provider.requests == []


def test_returning_sign_in_callback_runs_eight_statements_in_one_commit(app, browser, openid_provider):
    """A returning user's callback: one transaction holds the spent return_to token, the provider's
    nonce, the new device session, the security history, the sign-in count and the identity's last use."""
    openid_provider.behaviour.profiles["alice"] = {"nickname": "alice"}
    callback, _ = browser.capture_callback(openid_provider.identity("alice"))
    assert "Hi, alice!" in browser.get(callback).text  # the first sign-in creates alice
    browser.logout()
    callback, _ = browser.capture_callback(openid_provider.identity("alice"))
    with app.app_context():
        engine = db.engine
    commits = []

    def count_commit(connection):
        commits.append(connection)

    event.listen(engine, "commit", count_commit)
    try:
        with recorded_queries(app) as queries:
            answer = browser.get(callback, allow_redirects=False)
    finally:
        event.remove(engine, "commit", count_commit)
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    assert "Hi, alice!" in browser.get("/").text
    kinds = [" ".join(statement.replace('"', "").split()[:3]) for statement, _ in queries]
    assert kinds.count("INSERT INTO openid_nonce") == 2
    assert [kind for kind in kinds if kind.startswith("INSERT INTO") and "nonce" not in kind] == [
        "INSERT INTO security_event",
        "INSERT INTO user_session",
    ]
    assert len(queries) == 8, kinds
    assert len(commits) == 1
    with app.app_context():
        user = db.session.scalars(select(User).where(User.nickname == "alice")).one()
        assert user.sign_in_count == 2
        assert user.identities[0].last_used_at is not None
