"""End-to-end sign-in over real HTTP: the app on loopback, real OpenID providers."""

from sqlalchemy import select

from app.extensions import db
from app.models import Identity, User
from tests.support.web import flashes


def users(app):
    with app.app_context():
        return db.session.scalars(select(User).order_by(User.id)).all()


def identities(app):
    with app.app_context():
        return [(i.subject, i.user.nickname) for i in db.session.scalars(select(Identity).order_by(Identity.id))]


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
