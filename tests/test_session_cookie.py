"""The session cookie interface: Flask's cookies byte for byte, key rotation, a new key takes effect."""

from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface

from app.session_cookie import SessionCookieInterface

KEY = "k" * 40
OLD_KEY = "o" * 40


def flask_app(secret_key=KEY, fallbacks=()):
    """A bare Flask app with one view that counts visits in the session."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret_key, SECRET_KEY_FALLBACKS=list(fallbacks))

    @app.get("/")
    def visit():
        session["visits"] = session.get("visits", 0) + 1
        return str(session["visits"])

    return app


def test_cookies_are_flasks_own_byte_for_byte():
    data = {"_user_id": "token", "_fresh": True, "signed_in_at": 1700000000}
    app = flask_app()
    ours = SessionCookieInterface().get_signing_serializer(app)
    flasks = SecureCookieSessionInterface().get_signing_serializer(app)
    assert ours is not None and flasks is not None
    cookie = flasks.dumps(data)
    assert ours.loads(cookie) == data
    assert ours.loads(ours.dumps(data)) == flasks.loads(ours.dumps(data)) == data
    assert ours.make_signer().get_signature(b"x") == flasks.make_signer().get_signature(b"x")


def test_the_serializer_is_built_once_per_set_of_keys():
    app = flask_app()
    interface = SessionCookieInterface()
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    app.config["SECRET_KEY_FALLBACKS"] = [OLD_KEY]
    assert interface.get_signing_serializer(app) is not first


def test_a_cookie_signed_with_a_fallback_key_still_opens_the_session():
    old_app = flask_app(OLD_KEY)
    old_app.session_interface = SessionCookieInterface()
    old_client = old_app.test_client()
    assert old_client.get("/").text == "1"
    cookie = old_client.get_cookie("session").value

    app = flask_app(KEY, fallbacks=[OLD_KEY])
    app.session_interface = SessionCookieInterface()
    client = app.test_client()
    client.set_cookie("session", cookie)
    assert client.get("/").text == "2"  # the old cookie was read, and the new one is signed with KEY
    resigned = client.get_cookie("session").value
    assert SecureCookieSessionInterface().get_signing_serializer(flask_app(KEY)).loads(resigned) == {
        "visits": 2
    }


def test_a_changed_secret_key_refuses_old_cookies_at_once():
    app = flask_app()
    app.session_interface = SessionCookieInterface()
    client = app.test_client()
    assert client.get("/").text == "1"
    assert client.get("/").text == "2"
    app.config["SECRET_KEY"] = "n" * 40  # the cached serializer must not outlive its key
    assert client.get("/").text == "1"


def test_the_site_uses_it(app):
    assert isinstance(app.session_interface, SessionCookieInterface)
