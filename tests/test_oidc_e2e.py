"""End-to-end OpenID Connect sign-in against a real provider (oidc-provider on Node.js) and the local one."""

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Identity, User
from tests.oidc.harness import start_oidc_provider
from tests.support.oidc_site import OIDCSite, provider_settings
from tests.support.web import flashes, nickname_value

pytestmark = pytest.mark.e2e  # live site and Node.js provider

ACCOUNTS = {
    "nick-only": {"preferred_username": None, "nickname": "Nicky", "name": "Nicholas Y"},
    "name-only": {"preferred_username": None, "nickname": None, "name": "Jane Q Public"},
    "mail-only": {"preferred_username": None, "nickname": None, "name": None, "email": "postbox@example.org"},
    "bare": {
        "preferred_username": None,
        "nickname": None,
        "name": None,
        "email": None,
        "email_verified": None,
    },
    "unverified": {"email": "someone@example.org", "email_verified": False},
    "bobby": {"preferred_username": "bob", "email": "bob@example.org"},
    "odd name": {"preferred_username": "<b>odd</b> name!"},
}


@pytest.fixture(scope="module")
def site():
    site = OIDCSite().start()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def op(site):
    """The real provider, registered with this site as provider "test"."""
    with start_oidc_provider(redirect_uris=[site.callback("test")], accounts=ACCOUNTS) as provider:
        yield provider


@pytest.fixture
def app(site, op, database_url):
    with site.serving(database_url, **provider_settings("test", op.issuer, label="Test OP")) as app:
        yield app


@pytest.fixture
def browser(site, app):
    return site.browser()


def users(app):
    with app.app_context():
        return db.session.execute(select(User.id, User.nickname, User.email).order_by(User.id)).all()


def identities(app):
    with app.app_context():
        rows = db.session.execute(
            select(Identity.issuer, Identity.subject, Identity.user_id).order_by(Identity.id)
        )
        return rows.all()


def nickname_step(browser, page, provider_label, suggestion):
    """The first sign-in stopped at "Choose your nickname" with this suggestion; confirm it."""
    assert urlsplit(page.url).path == "/login/nickname", page.url
    assert f"You signed in with <strong>{provider_label}</strong>" in page.text
    assert nickname_value(page.text) == suggestion
    return browser.choose_nickname(page, suggestion)


def greeting(page):
    match = re.search(r"Hi, ([^!<]*)!", page.text)
    return match and match.group(1)


def test_login_page_offers_the_configured_provider(browser):
    page = browser.get("/login")
    assert 'formaction="/login/oidc/test"' in page.text
    assert "Sign in with Test OP" in page.text
    assert "Sign in with Yahoo" not in page.text  # presets appear only when configured


def test_first_sign_in_creates_the_user_and_the_second_finds_it(app, browser, op):
    page = browser.oidc_sign_in("test", "carol")
    assert page.url.rstrip("/") == browser.base_url and greeting(page) == "carol"
    assert [tuple(row)[1:] for row in users(app)] == [("carol", "carol@example.test")]
    assert [tuple(row)[:2] for row in identities(app)] == [(op.issuer, "carol")]

    browser.logout()
    again = browser.oidc_sign_in("test", "carol")
    assert greeting(again) == "carol"
    assert len(users(app)) == 1 and len(identities(app)) == 1


def test_the_same_sub_from_another_issuer_is_another_user(site, op, database_url):
    with start_oidc_provider(redirect_uris=[site.callback("other")]) as other:
        assert other.issuer != op.issuer
        settings = {**provider_settings("test", op.issuer), **provider_settings("other", other.issuer)}
        with site.serving(database_url, **settings) as app:
            first = site.browser()
            assert greeting(first.oidc_sign_in("test", "dave")) == "dave"
            second = site.browser()
            step = second.oidc_sign_in("other", "dave")  # "dave" is taken: the nickname step
            assert greeting(nickname_step(second, step, "Other", "dave-2")) == "dave-2"
            ids = identities(app)
            assert {(issuer, subject) for issuer, subject, _ in ids} == {
                (op.issuer, "dave"),
                (other.issuer, "dave"),
            }
            assert len({user_id for _, _, user_id in ids}) == 2


def test_an_email_matching_an_openid2_user_does_not_sign_into_that_user(app, browser):
    home = browser.sign_in_local("bob", nickname="bob", email="bob@example.org")
    assert greeting(home) == "bob"
    browser.logout()

    step = browser.oidc_sign_in("test", "bobby")  # claims preferred_username "bob", email bob@example.org
    assert greeting(nickname_step(browser, step, "Test OP", "bob-2")) == "bob-2"
    rows = users(app)
    assert [(nickname, email) for _, nickname, email in rows] == [
        ("bob", "bob@example.org"),
        ("bob-2", "bob@example.org"),
    ]
    by_issuer = {issuer: user_id for issuer, _, user_id in identities(app)}
    assert by_issuer["openid2"] != by_issuer[next(i for i in by_issuer if i != "openid2")]


@pytest.mark.parametrize(
    ("login", "nickname"),
    [
        ("carol", "carol"),  # preferred_username
        ("nick-only", "Nicky"),  # nickname
        ("name-only", "Jane-Q-Public"),  # name, cleaned
        ("mail-only", "postbox"),  # email local part
        ("odd name", "b-odd-b-name"),  # sanitised
    ],
)
def test_nickname_comes_from_the_first_usable_claim(app, browser, login, nickname):
    assert greeting(browser.oidc_sign_in("test", login)) == nickname


def test_with_no_usable_claim_the_nickname_step_suggests_one_derived_from_the_subject(app, browser):
    step = browser.oidc_sign_in("test", "bare")
    assert greeting(nickname_step(browser, step, "Test OP", "user-bare")) == "user-bare"
    assert [(nickname, email) for _, nickname, email in users(app)] == [("user-bare", None)]


def test_an_email_the_provider_calls_unverified_is_not_kept(app, browser):
    browser.oidc_sign_in("test", "unverified")
    assert [(nickname, email) for _, nickname, email in users(app)] == [("unverified", None)]


@pytest.mark.parametrize("remember", [True, False])
def test_remember_me(app, browser, remember):
    page = browser.oidc_sign_in("test", "erin", remember=remember)
    assert greeting(page) == "erin"
    assert ("remember_token" in browser.http.cookies) is remember


def test_next_is_followed_when_safe(app, browser):
    page = browser.oidc_sign_in("test", "frank", next_url="/index?before=9999999999999999-1")
    assert page.url == browser.base_url + "/index?before=9999999999999999-1" and greeting(page) == "frank"


def test_unsafe_next_goes_home(app, browser):
    page = browser.oidc_sign_in("test", "grace", next_url="https://evil.example/steal")
    assert page.url.rstrip("/") == browser.base_url and greeting(page) == "grace"


def test_denied_consent_returns_to_the_login_page_with_a_message(app, browser):
    page = browser.oidc_sign_in("test", "heidi", approve=False, next_url="/index?before=9999999999999999-1")
    assert urlsplit(page.url).path == "/login"
    assert ("error", "Signing in with Test OP was cancelled.") in flashes(page.text)
    assert "next=/index" in page.url  # the retry still goes where the person was going
    assert users(app) == []


def test_state_from_another_session_is_refused(site, app, browser):
    callback = browser.capture_callback("test", "ivan")
    other = site.browser()
    other.start_oidc("test")  # a sign-in of its own is pending, with another state
    page = other.get(callback)
    assert urlsplit(page.url).path == "/login"
    assert (
        "error",
        "This sign-in has expired or was started in another browser. Please start again.",
    ) in flashes(page.text)
    assert users(app) == []


def test_a_replayed_callback_is_refused(app, browser):
    callback = browser.capture_callback("test", "judy")
    before = browser.http.cookies.copy()  # the session as it was, state and all
    assert greeting(browser.get(callback)) == "judy"

    again = browser.with_cookies(before).get(callback)  # same cookies, same code: the code is spent
    assert urlsplit(again.url).path == "/login"
    assert ("error", "Test OP did not complete the sign-in (invalid_grant). Please try again.") in flashes(
        again.text
    )

    browser.logout()
    third = browser.get(callback)  # the state was used up with the first delivery
    assert (
        "error",
        "This sign-in has expired or was started in another browser. Please start again.",
    ) in flashes(third.text)
    assert len(users(app)) == 1


def test_an_answer_naming_another_issuer_is_refused(app, browser):
    callback = browser.capture_callback("test", "mallory")
    parts = urlsplit(callback)
    query = [(k, "https://other-issuer.example" if k == "iss" else v) for k, v in parse_qsl(parts.query)]
    assert dict(query)["iss"] == "https://other-issuer.example"  # the provider sends RFC 9207 iss
    page = browser.get(urlunsplit(parts._replace(query=urlencode(query))))
    assert ("error", "The answer from Test OP could not be verified, so you were not signed in.") in flashes(
        page.text
    )
    assert users(app) == []


def test_profile_comes_from_userinfo_when_the_id_token_has_none(site, database_url):
    with start_oidc_provider(
        redirect_uris=[site.callback("test")], accounts=ACCOUNTS, conform_id_token_claims=True
    ) as conforming:
        with site.serving(database_url, **provider_settings("test", conforming.issuer)) as app:
            page = site.browser().oidc_sign_in("test", "name-only")
            assert greeting(page) == "Jane-Q-Public"
            assert [(nickname, email) for _, nickname, email in users(app)] == [
                ("Jane-Q-Public", "name-only@example.test")
            ]
        assert "GET /me" in conforming.output()


def test_sign_in_sends_pkce_state_and_nonce(app, browser):
    auth_url = browser.to_provider("test")
    params = dict(parse_qsl(urlsplit(auth_url).query))
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"] and params["scope"] == "openid email profile"
    assert params["redirect_uri"] == browser.base_url + "/login/oidc/test/callback"


# --- the local OpenID Connect provider (development) ------------------------------------------------


def local_approval(browser, **kwargs):
    start = browser.start_oidc("local", allow_redirects=True, **kwargs)
    assert urlsplit(start.url).path == "/dev-oidc/authorize", start.text
    return start


def test_local_provider_signs_in_end_to_end(app, browser):
    page = browser.get("/login")
    assert "Sign in with Local test provider (OpenID Connect)" in page.text
    approval = local_approval(browser, remember=True, next_url="/index?before=9999999999999999-1")
    home = browser.decide(approval, username="walter", nickname="Walt", email="walt@example.org")
    assert home.url == browser.base_url + "/index?before=9999999999999999-1" and greeting(home) == "Walt"
    assert "remember_token" in browser.http.cookies
    issuer = browser.base_url + "/dev-oidc"
    assert [tuple(row)[:2] for row in identities(app)] == [(issuer, "walter")]

    browser.logout()
    again = browser.decide(local_approval(browser), username="walter", nickname="Someone else")
    assert greeting(again) == "Walt"  # same (issuer, sub): same user, nickname unchanged
    assert len(users(app)) == 1


def test_local_provider_cancel_returns_with_a_message(app, browser):
    page = browser.decide(local_approval(browser), approve=False)
    assert urlsplit(page.url).path == "/login"
    assert ("error", "Signing in with Local test provider (OpenID Connect) was cancelled.") in flashes(
        page.text
    )


def test_local_provider_checks_what_is_typed(app, browser):
    approval = local_approval(browser)
    page = browser.decide(approval, username="no spaces", email="not-an-email")
    assert urlsplit(page.url).path == "/dev-oidc/authorize"
    assert "Use letters, digits" in page.text and "That is not an email address." in page.text
    assert 'value="not-an-email"' in page.text  # what was typed is kept
    assert users(app) == []
