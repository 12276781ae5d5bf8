"""Linking sign-in methods with the independent OpenID Connect provider (oidc-provider on Node.js).

With the independent OpenID 2.0 provider (python3-openid's server) on the other side, so both
protocols are covered by providers that share no code with the site.
"""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Identity, User
from tests.oidc.harness import complete_login, start_oidc_provider
from tests.support.oidc_site import OIDCSite, provider_settings
from tests.support.web import flashes

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site():
    site = OIDCSite().start()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def op(site):
    with start_oidc_provider(redirect_uris=[site.callback("test")]) as provider:
        yield provider


@pytest.fixture
def app(site, op, database_url):
    with site.serving(database_url, **provider_settings("test", op.issuer, label="Test OP")) as app:
        yield app


def identities(app):
    with app.app_context():
        rows = db.session.execute(
            select(User.nickname, Identity.issuer, Identity.subject).join(Identity).order_by(Identity.id)
        )
        return [tuple(row) for row in rows]


def greeting(page):
    return "Hi, " in page.text and page.text.split("Hi, ", 1)[1].split("!", 1)[0]


def connect_callback(browser, username):
    """Press "Add Test OP" on the account page and log in at the provider; its answer, undelivered."""
    start = browser.start_connect(oidc="test", allow_redirects=False)
    assert start.status_code == 302, start.text
    return complete_login(
        start.headers["Location"], username, redirect_uri=f"{browser.base_url}/login/oidc/test/"
    )


def test_link_the_independent_providers_both_ways_and_sign_in_with_each(app, site, op, openid_provider):
    browser = site.browser()
    openid_provider.behaviour.profiles["dana"] = {"nickname": "dana"}
    assert greeting(browser.start_sign_in(openid_provider.identity("dana"))) == "dana"
    page = browser.get(connect_callback(browser, "dana-at-op"))
    assert ("success", "Test OP was added: you can now sign in with it.") in flashes(page.text)
    assert identities(app) == [
        ("dana", "openid2", openid_provider.identity("dana")),
        ("dana", op.issuer, "dana-at-op"),
    ]
    browser.logout()
    assert greeting(browser.oidc_sign_in("test", "dana-at-op")) == "dana"
    browser.logout()
    assert greeting(browser.start_sign_in(openid_provider.identity("dana"))) == "dana"

    # The other way round: an OpenID Connect account adds an OpenID 2.0 identity.
    erin = site.browser()
    assert greeting(erin.oidc_sign_in("test", "erin")) == "erin"
    page = erin.start_connect(openid_provider.identity("erin2"))
    assert ("success", "OpenID (127.0.0.1) was added: you can now sign in with it.") in flashes(page.text)
    erin.logout()
    assert greeting(erin.start_sign_in(openid_provider.identity("erin2"))) == "erin"
    with app.app_context():
        assert db.session.scalars(select(User.nickname).order_by(User.id)).all() == ["dana", "erin"]


def test_an_oidc_identity_of_another_account_is_refused(app, site):
    owner = site.browser()
    assert greeting(owner.oidc_sign_in("test", "frank")) == "frank"
    alice = site.browser()
    alice.sign_in_local("alice", nickname="alice")
    page = alice.get(connect_callback(alice, "frank"))
    assert "belongs to another Microblog account" in flashes(page.text)[0][1]
    assert [row[0] for row in identities(app)] == ["frank", "alice"]


def test_an_oidc_connect_answer_delivered_to_another_browser_is_refused(app, site):
    alice = site.browser()
    alice.sign_in_local("alice", nickname="alice")
    callback = connect_callback(alice, "stolen")
    mallory = site.browser()
    mallory.sign_in_local("mallory", nickname="mallory")
    page = mallory.get(callback)
    assert page.status_code == 200 and [cat for cat, _ in flashes(page.text)] == ["error"]
    assert greeting(mallory.get("/")) == "mallory"
    stranger = site.browser()
    page = stranger.get(callback)
    assert page.url.startswith(site.url + "/login") and greeting(stranger.get("/")) in (False, None)
    assert [row[0] for row in identities(app)] == ["alice", "mallory"]
