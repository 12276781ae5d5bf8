"""OpenID 2.0 protocol attacks against a real provider on loopback: each must sign no one in."""

import time

import pytest
from openid.message import OPENID_NS
from sqlalchemy import delete, func, select

from app.auth.openid2.consumer import ATTEMPT_EXPIRED, RETURN_TO_NONCE_URL
from app.extensions import db
from app.models import OpenIDNonce, User, utcnow
from app.moderation import SUSPENDED_MESSAGE
from tests.support.web import SIGNED_IN_ONLY, flashes, nickname_value

VERIFY_FAILED = "The provider's answer could not be verified. Please try again."


def user_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


def assert_refused(app, browser, live_server, page, message=VERIFY_FAILED):
    assert page.url.startswith(live_server.url + "/login"), page.url
    assert ("error", message) in flashes(page.text)
    assert user_count(app) == 0
    assert browser.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")


def test_replayed_assertion_is_rejected(app, browser, live_server, openid_provider):
    openid_provider.behaviour.profiles["victim"] = {"nickname": "victim"}
    callback, cookies_before = browser.capture_callback(openid_provider.identity("victim"))
    assert "Hi, victim!" in browser.get(callback).text
    # The attacker holds the pre-callback session cookie, return_to token included.
    attacker = browser.with_cookies(cookies_before)
    page = attacker.get(callback)
    assert page.url.startswith(live_server.url + "/login")
    assert ("error", ATTEMPT_EXPIRED) in flashes(page.text)
    assert attacker.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")
    # Second layer: even with the spent return_to token forgotten, the used response nonce stops it.
    with app.app_context():
        db.session.execute(delete(OpenIDNonce).where(OpenIDNonce.server_url == RETURN_TO_NONCE_URL))
        db.session.commit()
    page = browser.with_cookies(cookies_before).get(callback)
    assert ("error", VERIFY_FAILED) in flashes(page.text)
    assert user_count(app) == 1


def test_replaying_the_session_cookie_makes_no_outbound_fetch(app, browser, live_server, openid_provider):
    """An old cookie still holds the return_to token; it is spent server-side before any fetch."""
    cookies_before = browser.capture_callback(openid_provider.identity("victim"))[1]
    token = app.session_interface.get_signing_serializer(app).loads(cookies_before["session"])["openid_rt"]
    counts = []
    for attempt in range(4):
        claimed = openid_provider.identity(f"someone-else-{attempt}")
        forged = {
            "rt": token["token"],
            "openid.ns": "http://specs.openid.net/auth/2.0",
            "openid.mode": "id_res",
            "openid.claimed_id": claimed,
            "openid.identity": claimed,
            "openid.op_endpoint": openid_provider.base_url + "/endpoint",
            "openid.return_to": live_server.url + "/login/openid/complete?rt=" + token["token"],
            "openid.response_nonce": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "x",
            "openid.assoc_handle": "forged",
            "openid.signed": "op_endpoint,claimed_id,identity,return_to,response_nonce,assoc_handle",
            "openid.sig": "Zm9yZ2Vk",
        }
        page = browser.with_cookies(cookies_before).get("/login/openid/complete", params=forged)
        assert page.url.startswith(live_server.url + "/login")
        counts.append(len(openid_provider.requests))
        if attempt:
            assert ("error", ATTEMPT_EXPIRED) in flashes(page.text)
    # The first forged answer spent the token (and was refused after checking with the provider);
    # every replay of the same cookie is refused before the server fetches anything.
    assert counts[1] == counts[2] == counts[3] == counts[0]
    assert user_count(app) == 0


def set_signed_nickname(response):
    response.fields.setArg("http://openid.net/extensions/sreg/1.1", "nickname", "admin")


def drop_from_signed(response):
    signed = response.fields.getArg(OPENID_NS, "signed").split(",")
    response.fields.setArg(OPENID_NS, "signed", ",".join(f for f in signed if f != "sreg.nickname"))


@pytest.mark.parametrize("tamper", [set_signed_nickname, drop_from_signed], ids=["tampered", "dropped"])
def test_tampered_signed_fields_are_rejected(app, browser, live_server, openid_provider, tamper):
    openid_provider.behaviour.profiles["bob"] = {"nickname": "bob"}
    openid_provider.behaviour.tamper = tamper
    page = browser.start_sign_in(openid_provider.identity("bob"))
    assert_refused(app, browser, live_server, page)


def return_to_rewriter(new_return_to):
    def rewrite(response):
        old = response.fields.getArg(OPENID_NS, "return_to")
        response.fields.setArg(OPENID_NS, "return_to", new_return_to(old))

    return rewrite


@pytest.mark.parametrize(
    "change",
    [
        lambda url: url.replace("127.0.0.1", "localhost"),
        lambda url: url.replace("/login/openid/complete", "/index"),
        lambda url: url.split("?")[0] + "?janrain_nonce=" + url.split("janrain_nonce=")[1],
        lambda url: url.replace("rt=", "rt=x"),
    ],
    ids=["other-host", "other-path", "missing-parameter", "other-token"],
)
def test_return_to_mismatch_is_rejected(app, browser, live_server, openid_provider, change):
    openid_provider.behaviour.rewrite = return_to_rewriter(change)
    callback, _ = browser.capture_callback(openid_provider.identity("bob"))
    page = browser.get(callback.replace(callback.split("?")[0], live_server.url + "/login/openid/complete"))
    assert page.url.startswith(live_server.url + "/login")
    assert user_count(app) == 0


def test_assertion_without_claimed_id_signs_no_one_in(app, browser, live_server, openid_provider):
    def drop_identity(response):
        response.fields.delArg(OPENID_NS, "claimed_id")
        response.fields.delArg(OPENID_NS, "identity")

    openid_provider.behaviour.rewrite = drop_identity
    page = browser.start_sign_in(openid_provider.identity("bob"))
    assert_refused(app, browser, live_server, page)


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        ("cancel", "Sign-in was cancelled at the provider."),
        ("setup_needed", "The provider needs you to sign in there first."),
    ],
)
def test_cancel_and_setup_needed_sign_no_one_in(
    app, browser, live_server, openid_provider, decision, message
):
    openid_provider.behaviour.decision = decision
    page = browser.start_sign_in(openid_provider.identity("bob"))
    assert_refused(app, browser, live_server, page, message)


def test_profile_values_come_from_signed_fields_only(app, browser, openid_provider):
    def add_unsigned_nickname(response):
        response.fields.setArg("http://openid.net/extensions/sreg/1.1", "nickname", "admin")

    openid_provider.behaviour.select_name = "42"
    openid_provider.behaviour.tamper = add_unsigned_nickname
    step = browser.start_sign_in(openid_provider.op_identifier)
    assert nickname_value(step.text) == "user-42"  # the unsigned "admin" is ignored
    page = browser.choose_nickname(step, nickname_value(step.text))
    assert "Hi, user-42!" in page.text
    with app.app_context():
        assert db.session.scalars(select(User.nickname)).all() == ["user-42"]


def test_unsigned_attribute_exchange_values_are_ignored(app, browser, openid_provider):
    def add_unsigned_ax_nickname(response):
        ax_ns = "http://openid.net/srv/ax/1.0"  # the signed answer has an (empty) AX fetch_response
        assert response.fields.getArg(ax_ns, "mode") == "fetch_response"
        response.fields.setArg(ax_ns, "type.nick", "http://axschema.org/namePerson/friendly")
        response.fields.setArg(ax_ns, "value.nick", "admin")

    openid_provider.behaviour.select_name = "43"
    openid_provider.behaviour.tamper = add_unsigned_ax_nickname
    page = browser.start_sign_in(openid_provider.op_identifier)
    # python3-openid reads AX from signed fields only: with unsigned values in it the answer is
    # refused as a whole, and the unsigned "admin" never reaches an account or a form.
    assert ("error", "The provider's answer could not be verified. Please try again.") in flashes(page.text)
    assert "admin" not in page.text
    assert user_count(app) == 0


def test_hostile_profile_values_are_cleaned_and_escaped(app, browser, openid_provider):
    openid_provider.behaviour.profiles["eve"] = {
        "nickname": '"><script>alert(1)</script>' + "x" * 60,
        "email": "eve@exa\x07mple.test",
    }
    page = browser.start_sign_in(openid_provider.identity("eve"))
    assert "<script>alert(1)" not in page.text
    with app.app_context():
        user = db.session.scalars(select(User)).one()
    assert user.nickname.startswith("script-alert-1-script") and len(user.nickname) == 64
    assert user.email is None


def nonces(app):
    """The recorded nonces (spent return_to tokens and provider nonces), as another request sees them."""
    with app.app_context():
        return sorted(db.session.scalars(select(OpenIDNonce.server_url)))


def answer_spent_and_replay_refused(app, browser, callback, cookies_before):
    """The answer's token and nonce are committed, and its replay with the old cookie is refused."""
    provider_nonces = [url for url in nonces(app) if url != RETURN_TO_NONCE_URL]
    assert nonces(app).count(RETURN_TO_NONCE_URL) == 1 and len(provider_nonces) == 1
    page = browser.with_cookies(cookies_before).get(callback)
    assert ("error", ATTEMPT_EXPIRED) in flashes(page.text)


def test_a_suspended_accounts_answer_is_spent_though_no_one_signs_in(app, browser, openid_provider):
    openid_provider.behaviour.profiles["mallory"] = {"nickname": "mallory"}
    first, _ = browser.capture_callback(openid_provider.identity("mallory"))
    assert "Hi, mallory!" in browser.get(first).text
    browser.logout()
    with app.app_context():
        db.session.execute(delete(OpenIDNonce))
        mallory = db.session.scalars(select(User)).one()
        mallory.suspended_at = utcnow()
        db.session.commit()
    callback, cookies_before = browser.capture_callback(openid_provider.identity("mallory"))
    page = browser.get(callback)
    assert ("error", SUSPENDED_MESSAGE) in flashes(page.text)
    assert "/login" in browser.get(SIGNED_IN_ONLY).url
    answer_spent_and_replay_refused(app, browser, callback, cookies_before)


def test_a_first_sign_in_answer_is_spent_before_the_nickname_step(app, browser, openid_provider):
    callback, cookies_before = browser.capture_callback(openid_provider.identity("newcomer"))
    page = browser.get(callback)
    assert page.url.endswith("/login/nickname") and user_count(app) == 0
    answer_spent_and_replay_refused(app, browser, callback, cookies_before)
