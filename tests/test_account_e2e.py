"""The account page end to end over real HTTP: several sign-in methods, devices, history, export, deletion.

Both protocols, against the local providers mounted beside the site and the independent python3-openid
provider (tests/test_account_oidc_e2e.py does the same with the independent OpenID Connect provider).
"""

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Identity, Post, SecurityEvent, User, UserSession, utcnow
from tests.support.web import SIGNED_IN_ONLY, WebClient, csrf_token, flashes

pytestmark = pytest.mark.e2e

ADDED = "was added: you can now sign in with it."


def identities(app):
    """(user nickname, issuer, subject) of every identity, in order."""
    with app.app_context():
        rows = db.session.execute(
            select(User.nickname, Identity.issuer, Identity.subject).join(Identity).order_by(Identity.id)
        )
        return [tuple(row) for row in rows]


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def make_stale(app, nickname):
    """Every device session of the user signed in long ago (no recent authentication)."""
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.nickname == nickname))
        db.session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id)
            .values(authenticated_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()


def events(app, nickname):
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.nickname == nickname))
        rows = db.session.scalars(
            select(SecurityEvent.kind).where(SecurityEvent.user_id == user_id).order_by(SecurityEvent.id)
        )
        return list(rows)


def greeting(page):
    return "Hi, " in page.text and page.text.split("Hi, ", 1)[1].split("!", 1)[0]


def other_browser(live_server):
    return WebClient(live_server.url)


# --- Linking sign-in methods -----------------------------------------------------------------------


def test_link_an_oidc_identity_to_an_openid2_account_then_sign_in_with_each(app, browser, live_server):
    browser.sign_in_local("alice", nickname="alice")
    page = browser.connect_local_oidc("alice-oidc", nickname="someone-else")
    assert page.url == live_server.url + "/account"
    assert ("success", f"Local test provider (OpenID Connect) {ADDED}") in flashes(page.text)
    assert "Local test provider (OpenID Connect)" in page.text and "Local test provider" in page.text
    base = live_server.url
    assert identities(app) == [
        ("alice", "openid2", f"{base}/dev-openid/alice"),
        ("alice", f"{base}/dev-oidc", "alice-oidc"),
    ]

    browser.logout()
    assert greeting(browser.sign_in_local_oidc("alice-oidc", nickname="not-used")) == "alice"
    browser.logout()
    assert greeting(browser.sign_in_local("alice")) == "alice"
    assert count(app, User) == 1
    assert events(app, "alice")[:3] == ["signed_in", "method_added", "device_signed_out"]


def test_link_an_openid2_identity_to_an_oidc_account_then_sign_in_with_each(
    app, browser, live_server, openid_provider
):
    browser.sign_in_local_oidc("olive", nickname="olive")
    openid_provider.behaviour.profiles["olive2"] = {"nickname": "intruder"}
    page = browser.start_connect(openid_provider.identity("olive2"))  # the typed OpenID field
    assert page.url == live_server.url + "/account"
    assert ("success", f"OpenID (127.0.0.1) {ADDED}") in flashes(page.text)
    assert [row[0] for row in identities(app)] == ["olive", "olive"]

    browser.logout()
    assert greeting(browser.start_sign_in(openid_provider.identity("olive2"))) == "olive"
    browser.logout()
    assert greeting(browser.sign_in_local_oidc("olive")) == "olive"
    assert count(app, User) == 1


def test_an_identity_of_another_account_is_refused_and_nothing_changes(app, browser, live_server):
    bob = other_browser(live_server)
    bob.sign_in_local("bob", nickname="bob")
    bob.connect_local_oidc("bob-oidc")
    browser.sign_in_local("alice", nickname="alice")
    before = identities(app)

    page = browser.connect_local("bob")
    assert page.url == live_server.url + "/account"
    [(category, message)] = flashes(page.text)
    assert category == "error" and "belongs to another Microblog account" in message
    page = browser.connect_local_oidc("bob-oidc")
    assert "belongs to another Microblog account" in flashes(page.text)[0][1]
    assert identities(app) == before
    assert greeting(bob.get("/")) == "bob" and greeting(browser.get("/")) == "alice"  # both still signed in

    page = browser.connect_local("alice")
    assert flashes(page.text) == [
        ("info", "That Local test provider sign-in is already linked to your account.")
    ]
    assert identities(app) == before


def test_a_connect_answer_delivered_to_another_browser_is_refused(app, browser, live_server, openid_provider):
    browser.sign_in_local("alice", nickname="alice")
    start = browser.start_connect(openid_provider.identity("thief"), allow_redirects=False)
    answer = browser.http.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = answer.headers["Location"]

    mallory = other_browser(live_server)
    mallory.sign_in_local("mallory", nickname="mallory")
    page = mallory.get(callback)
    assert page.status_code == 200 and greeting(page) != "alice"
    assert [cat for cat, _ in flashes(page.text)] == ["error"]
    stranger = other_browser(live_server)  # signed out: not signed in as the identity's owner either
    page = stranger.get(callback)
    assert page.url.startswith(live_server.url + "/login") and flashes(page.text)[0][0] == "error"
    assert [row[0] for row in identities(app)] == ["alice", "mallory"]


def test_a_connect_answer_after_this_device_was_signed_out_is_refused(
    app, browser, live_server, openid_provider
):
    browser.sign_in_local("alice", nickname="alice")
    start = browser.start_connect(openid_provider.identity("late"), allow_redirects=False)
    answer = browser.http.get(start.headers["Location"], allow_redirects=False, timeout=10)
    # Meanwhile, alice signs this device out from her phone.
    phone = other_browser(live_server)
    phone.sign_in_local("alice")
    page = phone.get("/account")
    this_one = page.text.split('class="device" data-device-id="', 1)[1].split('"', 1)[0]
    phone.account_post(f"/account/devices/{this_one}/sign-out")

    page = browser.get(answer.headers["Location"])
    assert page.status_code == 200 and page.url.startswith(live_server.url + "/login")
    assert (
        "error",
        "You were signed out before the provider answered, so nothing was changed. Please sign in again.",
    ) in flashes(page.text)
    assert len(identities(app)) == 1


def test_an_abandoned_connect_does_not_get_in_the_way_of_signing_in_again(app, browser, live_server):
    browser.sign_in_local("alice", nickname="alice")
    browser.start_connect(oidc="local")  # at the provider's page, the person gives up
    phone = other_browser(live_server)
    phone.sign_in_local("alice")
    phone.account_post("/account/devices/sign-out-others")
    assert browser.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")
    assert greeting(browser.sign_in_local("alice")) == "alice"
    assert len(identities(app)) == 1


def test_the_last_sign_in_method_cannot_be_removed_but_another_can(app, browser, live_server):
    browser.sign_in_local("alice", nickname="alice")
    with app.app_context():
        [only] = db.session.scalars(select(Identity.id)).all()
    page = browser.account_post(f"/account/methods/{only}/remove")
    assert (
        "error",
        "This is your only sign-in method, so it cannot be removed. Add another one first.",
    ) in flashes(page.text)
    assert len(identities(app)) == 1

    browser.connect_local_oidc("alice-oidc")
    page = browser.account_post(f"/account/methods/{only}/remove")
    assert ("success", "Local test provider was removed: it no longer signs in to this account.") in flashes(
        page.text
    )
    assert [row[2] for row in identities(app)] == ["alice-oidc"]
    browser.logout()
    step = browser.sign_in_local("alice")  # no longer linked: a new account would start here
    assert "Choose your nickname" in step.text
    assert "method_removed" in events(app, "alice")


def test_removing_someone_elses_method_is_refused(app, browser, live_server):
    bob = other_browser(live_server)
    bob.sign_in_local("bob", nickname="bob")
    bob.connect_local_oidc("bob-oidc")
    browser.sign_in_local("alice", nickname="alice")
    with app.app_context():
        bobs = db.session.scalars(select(Identity.id).join(User).where(User.nickname == "bob")).all()
    page = browser.account_post(f"/account/methods/{bobs[0]}/remove")
    assert ("error", "That sign-in method is not linked to your account.") in flashes(page.text)
    assert len(identities(app)) == 3


# --- Recent authentication ---------------------------------------------------------------------------


def test_linking_with_a_stale_session_asks_to_confirm_it_is_you_first(app, browser, live_server):
    other_browser(live_server).sign_in_local("bob", nickname="bob")
    browser.sign_in_local("alice", nickname="alice")
    make_stale(app, "alice")
    page = browser.start_connect(oidc="local")
    assert page.url.startswith(live_server.url + "/account/confirm")
    assert "Confirm it" in page.text and len(identities(app)) == 2

    # Confirming with an identity that is not this account's (here: bob's) does not count.
    approval = browser.post(
        "/login",
        {
            "csrf_token": csrf_token(page.text),
            "intent": "reauth",
            "provider": "2",
            "username-2": "bob",
            "next": "/account",
        },
    )
    page = browser.decide(approval)
    assert "not one of this account" in flashes(page.text)[0][1]
    assert browser.start_connect(oidc="local").url.startswith(live_server.url + "/account/confirm")

    # The confirm page's own button: sign in again as alice, then back to the account page.
    confirm = browser.get("/account/confirm?next=/account")
    identifier = live_server.url + "/dev-openid/alice"
    assert f'value="{identifier}"' in confirm.text
    approval = browser.post(
        "/login",
        {
            "csrf_token": csrf_token(confirm.text),
            "intent": "reauth",
            "openid": identifier,
            "next": "/account",
        },
    )
    page = browser.decide(approval)
    assert page.url == live_server.url + "/account"
    assert ("success", "Thank you: you can go on.") in flashes(page.text)
    assert greeting(browser.get("/")) == "alice"  # still the same session, not a new sign-in

    page = browser.connect_local_oidc("alice-oidc")
    assert ("success", f"Local test provider (OpenID Connect) {ADDED}") in flashes(page.text)
    assert "confirmed" in events(app, "alice")


@pytest.mark.parametrize("action", ["remove", "sign-out", "sign-out-others", "delete"])
def test_sensitive_actions_with_a_stale_session_ask_to_confirm(app, browser, live_server, action):
    browser.sign_in_local("alice", nickname="alice")
    browser.connect_local_oidc("alice-oidc")
    make_stale(app, "alice")
    with app.app_context():
        identity_id = db.session.scalars(select(Identity.id)).first()
        device_id = db.session.scalars(select(UserSession.id)).first()
    path, data = {
        "remove": (f"/account/methods/{identity_id}/remove", {}),
        "sign-out": (f"/account/devices/{device_id}/sign-out", {}),
        "sign-out-others": ("/account/devices/sign-out-others", {}),
        "delete": ("/account/delete", {"nickname": "alice"}),
    }[action]
    page = browser.account_post(path, data)
    assert page.url.startswith(live_server.url + "/account/confirm")
    assert len(identities(app)) == 2 and count(app, UserSession) == 1 and count(app, User) == 1


# --- Devices and cookies ------------------------------------------------------------------------------


def test_logout_makes_a_copied_session_cookie_and_remember_cookie_useless(app, browser, live_server):
    browser.sign_in_local("alice", nickname="alice", remember=True)
    session_cookie = browser.http.cookies.get("session")
    remember_cookie = browser.http.cookies.get("remember_token")
    assert session_cookie and remember_cookie
    copy = other_browser(live_server)
    copy.http.cookies.set("session", session_cookie, domain="127.0.0.1")
    assert greeting(copy.get("/")) == "alice"  # the copy works while the session lasts...

    browser.logout()
    assert count(app, UserSession) == 0
    for name, value in (("session", session_cookie), ("remember_token", remember_cookie)):
        thief = other_browser(live_server)
        thief.http.cookies.set(name, value, domain="127.0.0.1")
        page = thief.get(SIGNED_IN_ONLY)
        assert page.url.startswith(live_server.url + "/login"), name  # ...and not a moment after logout


def test_revoking_one_device_leaves_the_others_signed_in(app, live_server):
    laptop, phone, tablet = (other_browser(live_server) for _ in range(3))
    laptop.http.headers["User-Agent"] = (
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    )
    phone.http.headers["User-Agent"] = (
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0 Mobile Safari/537.36"
    )
    laptop.sign_in_local("alice", nickname="alice")
    laptop.connect_local_oidc("alice-oidc")
    phone.sign_in_local_oidc("alice-oidc", remember=True)
    tablet.sign_in_local("alice")

    page = laptop.get("/account")
    assert "Firefox on Linux" in page.text and "Chrome on Android" in page.text
    assert page.text.count('<span class="badge">This device</span>') == 1
    with app.app_context():
        phone_id = db.session.scalars(
            select(UserSession.id).where(UserSession.user_agent == "Chrome on Android")
        ).one()
    page = laptop.account_post(f"/account/devices/{phone_id}/sign-out")
    assert ("success", "Chrome on Android was signed out.") in flashes(page.text)
    assert phone.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")  # remember cookie and all
    assert greeting(tablet.get("/")) == "alice" and greeting(laptop.get("/")) == "alice"

    page = laptop.account_post("/account/devices/sign-out-others")
    assert ("success", "Signed out 1 other device.") in flashes(page.text)
    assert tablet.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")
    assert greeting(laptop.get("/")) == "alice"
    assert count(app, UserSession) == 1


def test_sign_out_everywhere_ends_every_device_session(app, browser, live_server):
    browser.sign_in_local("alice", nickname="alice")
    other = other_browser(live_server)
    other.sign_in_local("alice", remember=True)
    page = browser.post("/logout/everywhere", {"csrf_token": csrf_token(browser.get("/").text)})
    assert ("info", "You have been signed out on every device.") in flashes(page.text)
    assert count(app, UserSession) == 0
    assert other.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")
    assert events(app, "alice")[-1] == "signed_out_everywhere"


# --- History, export, deletion ------------------------------------------------------------------------


def test_security_history_shows_what_happened_to_the_owner_only(app, browser, live_server):
    browser.sign_in_local("alice", nickname="alice")
    browser.connect_local_oidc("alice-oidc")
    page = browser.post(
        "/profile/edit",
        {"csrf_token": csrf_token(browser.get("/profile/edit").text), "nickname": "alicia", "email": ""},
    )
    page = browser.get("/account")
    for text in ("Signed in", "Sign-in method added", "Nickname changed", "alice → alicia"):
        assert text in page.text, text
    bob = other_browser(live_server)
    bob.sign_in_local("bob", nickname="bob")
    theirs = bob.get("/account").text
    assert "alicia" not in theirs and "Nickname changed" not in theirs
    assert "alice-oidc" not in bob.get("/user/alicia").text  # raw identifiers: the owner only
    assert "alice-oidc" in page.text


def test_export_contains_profile_methods_posts_devices_and_history(app, browser, live_server):
    browser.sign_in_local("alice", nickname="alice", email="alice@example.test")
    browser.connect_local_oidc("alice-oidc")
    browser.post("/", {"csrf_token": csrf_token(browser.get("/").text), "body": "hello from alice"})
    response = browser.get("/account/export")
    assert response.headers["Content-Type"].startswith("application/json")
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.text)
    assert data["profile"]["nickname"] == "alice" and data["profile"]["email"] == "alice@example.test"
    assert [m["label"] for m in data["sign_in_methods"]] == [
        "Local test provider",
        "Local test provider (OpenID Connect)",
    ]
    assert [p["body"] for p in data["posts"]] == ["hello from alice"]
    assert len(data["devices"]) == 1 and data["devices"][0]["sign_in_method"] == "Local test provider"
    assert {e["event"] for e in data["history"]} >= {"Signed in", "Sign-in method added"}
    text = response.text
    assert "alice-oidc" not in text and "/dev-openid/alice" not in text  # labels, not identifiers
    with app.app_context():
        token = db.session.scalars(select(UserSession.session_token)).one()
    assert token not in text


def test_deletion_needs_the_nickname_and_leaves_nothing_behind(app, browser, live_server):
    browser.sign_in_local("alice", nickname="alice", remember=True)
    browser.connect_local_oidc("alice-oidc")
    browser.post("/", {"csrf_token": csrf_token(browser.get("/").text), "body": "bye"})
    phone = other_browser(live_server)
    phone.sign_in_local_oidc("alice-oidc", remember=True)
    bob = other_browser(live_server)
    bob.sign_in_local("bob", nickname="bob")
    bob.post("/", {"csrf_token": csrf_token(bob.get("/").text), "body": "bob stays"})

    form = browser.get("/account/delete")
    page = browser.post("/account/delete", {"csrf_token": csrf_token(form.text), "nickname": "Alice"})
    assert page.status_code == 400 and "That is not your nickname. Nothing was deleted." in page.text
    assert count(app, User) == 2

    page = browser.post("/account/delete", {"csrf_token": csrf_token(form.text), "nickname": "alice"})
    assert page.url.startswith(live_server.url + "/login")
    assert (
        "info",
        "Your account and everything in it were deleted. Every device was signed out.",
    ) in flashes(page.text)
    with app.app_context():
        assert db.session.scalars(select(User.nickname)).all() == ["bob"]
        bob_id = db.session.scalar(select(User.id))
        for model in (Identity, Post, UserSession, SecurityEvent):
            owners = set(db.session.scalars(select(model.user_id)).all())
            assert owners == {bob_id}, model
    assert phone.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")
    assert browser.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")
    assert greeting(bob.get("/")) == "bob"
    assert bob.get("/user/alice").status_code == 404


def test_the_account_page_needs_sign_in_and_changes_nothing_on_get(app, browser, live_server):
    page = browser.get("/account")
    assert page.url.startswith(live_server.url + "/login?next=/account")
    browser.sign_in_local("alice", nickname="alice")
    for path in ("/account/devices/sign-out-others", "/account/delete", "/account/methods/1/remove"):
        assert browser.get(path).status_code in (200, 405)
    assert count(app, User) == 1 and count(app, UserSession) == 1 and len(identities(app)) == 1
    response = browser.post("/account/devices/sign-out-others", {})
    assert response.status_code == 400  # no CSRF token


def test_confirming_with_an_oidc_method_returns_to_the_deletion_page(app, browser, live_server):
    browser.sign_in_local_oidc("olive", nickname="olive")
    make_stale(app, "olive")
    form = browser.get("/account/delete")
    page = browser.post("/account/delete", {"csrf_token": csrf_token(form.text), "nickname": "olive"})
    assert page.url == live_server.url + "/account/confirm?next=/account/delete"
    assert 'action="/login/oidc/local"' in page.text and 'value="reauth"' in page.text
    approval = browser.post(
        "/login/oidc/local",
        {"csrf_token": csrf_token(page.text), "intent": "reauth", "next": "/account/delete"},
    )
    page = browser.decide(approval, username="olive")
    assert page.url == live_server.url + "/account/delete"
    page = browser.post("/account/delete", {"csrf_token": csrf_token(page.text), "nickname": "olive"})
    assert page.url.startswith(live_server.url + "/login")
    assert count(app, User) == 0 and count(app, Identity) == 0
