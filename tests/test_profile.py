"""Profile pages: readable by anyone, providers shown by name only, owners edit nickname and email."""

import re
from datetime import UTC, datetime
from html import unescape

from sqlalchemy import select

from app.extensions import db
from app.models import Identity, Post, User
from tests.support.web import csrf_token, flashes, nickname_value


def make_user(app, nickname, subjects=(), email=None, posts=(), joined=None):
    with app.app_context():
        user = User(nickname=nickname, email=email, created_at=joined or datetime(2025, 3, 14, tzinfo=UTC))
        for issuer, subject in subjects:
            user.identities.append(Identity(issuer=issuer, subject=subject))
        for body in posts:
            user.posts.append(Post(body=body))
        user.post_count = len(posts)  # as publish_post keeps it
        db.session.add(user)
        db.session.commit()
        return user.id


def nicknames(app):
    with app.app_context():
        return [(u.nickname, u.email) for u in db.session.scalars(select(User).order_by(User.id))]


def chips(html):
    return [unescape(c) for c in re.findall(r'<li class="chip"><bdi>(.*?)</bdi></li>', html)]


STEAM_ID = "https://steamcommunity.com/openid/id/76561197960287930"


def test_anonymous_visitor_reads_a_profile(app, client):
    make_user(app, "gabe", [("openid2", STEAM_ID)], email="gabe@example.test", posts=["first!", "second"])
    page = client.get("/user/gabe")
    assert page.status_code == 200
    assert '<h1 id="profile-title"><bdi>gabe</bdi></h1>' in page.text
    assert "Joined" in page.text and "March 2025" in page.text
    assert 'datetime="2025-03-14T00:00:00+00:00"' in page.text
    assert chips(page.text) == ["Steam"]
    assert "first!" in page.text and "second" in page.text
    assert "2 posts" in page.text
    assert "gabe@example.test" not in page.text  # email is for the owner only
    assert "76561197960287930" not in page.text  # never the identifier itself
    assert "Edit profile" not in page.text and "logout-everywhere" not in page.text


def test_profile_lists_every_provider_by_name(app, client):
    make_user(
        app,
        "multi",
        [
            ("openid2", "https://login.ubuntu.com/+id/abc123"),
            ("openid2", "https://alice.example.org/openid"),
            ("https://accounts.google.com", "1093847561234"),
            ("https://id.example.net", "s-1"),
            ("openid2", STEAM_ID),
        ],
    )
    page = client.get("/user/multi").text
    assert chips(page) == ["Ubuntu One", "OpenID (alice.example.org)", "Google", "id.example.net", "Steam"]
    assert "abc123" not in page and "1093847561234" not in page and "s-1" not in page


def test_local_provider_identity_is_named(app, client):
    make_user(app, "loc", [("openid2", "http://localhost/dev-openid/loc")])
    assert chips(client.get("/user/loc").text) == ["Local test provider"]


def test_profile_shows_only_that_users_posts_newest_first(app, client):
    make_user(app, "amy", posts=["amy one"])
    make_user(app, "ben", posts=["ben one"])
    page = client.get("/user/amy").text
    assert "amy one" in page and "ben one" not in page


def test_unknown_profile_is_a_friendly_404(client):
    page = client.get("/user/nobody")
    assert page.status_code == 404
    assert "No such profile" in page.text  # says what is missing (issue 12), not the generic "Page not found"
    assert 'href="/"' in page.text


def test_nickname_in_other_case_redirects_to_the_profile(app, client):
    make_user(app, "Gabe")
    answer = client.get("/user/gABE")
    assert answer.status_code == 301
    assert answer.headers["Location"] == "/user/Gabe"


def test_profile_output_is_escaped(app, client):
    make_user(app, "esc", [("openid2", "https://x.example/<script>")], posts=["<img src=x onerror=alert(1)>"])
    page = client.get("/user/esc").text
    assert "<img src=x" not in page and "<script>" not in page


def test_another_signed_in_member_sees_no_owner_controls(app, client, auth):
    make_user(app, "alice", email="alice@example.test")
    auth.login("bob")
    page = client.get("/user/alice").text
    assert 'id="edit-profile"' not in page and 'id="logout-everywhere"' not in page
    assert "alice@example.test" not in page


def test_owner_sees_email_edit_link_and_sign_out_everywhere(app, client, auth):
    auth.login("tester")
    page = client.get("/user/tester").text
    assert 'id="edit-profile"' in page
    assert "(only you can see this)" in page
    assert 'id="logout-everywhere"' in page


def test_nav_links_to_own_profile(client, auth):
    auth.login("tester")
    assert 'href="/user/tester"' in client.get("/").text


def edit(client, **fields):
    page = client.get("/profile/edit")
    data = {"csrf_token": csrf_token(page.text), "nickname": "", "email": ""}
    data.update(fields)
    return client.post("/profile/edit", data=data)


def test_owner_changes_nickname_and_email(app, client, auth):
    auth.login("tester")
    answer = edit(client, nickname="new-name", email="me@example.test")
    assert answer.status_code == 302 and answer.headers["Location"] == "/user/new-name"
    page = client.get("/user/new-name")
    assert ("success", "Your profile is saved.") in flashes(page.text)
    assert "me@example.test" in page.text
    assert nicknames(app) == [("new-name", "me@example.test")]
    assert client.get("/user/tester").status_code == 404
    assert "Hi, new-name!" in client.get("/").text  # still signed in


def test_edit_form_is_filled_with_the_current_values(app, client, auth):
    auth.login("tester")
    page = client.get("/profile/edit")
    assert page.status_code == 200
    assert nickname_value(page.text) == "tester"
    assert '<label for="nickname">' in page.text and '<label for="email">' in page.text


def test_taken_nickname_is_refused_ignoring_case(app, client, auth):
    make_user(app, "bob")
    auth.login("tester")
    page = edit(client, nickname="BOB")
    assert page.status_code == 200
    assert "The nickname &#39;BOB&#39; is taken." in page.text
    assert nickname_value(page.text) == "BOB"
    assert nicknames(app) == [("bob", None), ("tester", None)]


def test_own_nickname_in_other_case_is_allowed(app, client, auth):
    auth.login("tester")
    assert edit(client, nickname="Tester").status_code == 302
    assert nicknames(app) == [("Tester", None)]


def test_invalid_nickname_and_email_are_refused_inline(app, client, auth):
    auth.login("tester")
    page = edit(client, nickname="bad name", email="not-an-email")
    assert "Use letters, digits" in page.text
    assert "That does not look like an email address" in page.text
    assert page.text.count('aria-invalid="true"') == 2
    assert nicknames(app) == [("tester", None)]


def test_editing_email_never_reveals_other_members_addresses(app, client, auth):
    """Email is unverified profile data: sharing one is allowed, and nothing says who has it."""
    make_user(app, "bob", email="Bob@Example.test")
    auth.login("tester")
    page = edit(client, nickname="tester", email="bob@example.TEST")
    assert "already" not in page.text
    assert nicknames(app) == [("bob", "Bob@Example.test"), ("tester", "bob@example.TEST")]


def test_leaving_the_email_field_out_keeps_the_email(app, client, auth):
    auth.login("tester")
    edit(client, nickname="tester", email="me@example.test")
    page = client.get("/profile/edit")
    client.post("/profile/edit", data={"csrf_token": csrf_token(page.text), "nickname": "tester2"})
    assert nicknames(app) == [("tester2", "me@example.test")]


def test_email_can_be_removed(app, client, auth):
    auth.login("tester")
    edit(client, nickname="tester", email="me@example.test")
    edit(client, nickname="tester", email="")
    assert nicknames(app) == [("tester", None)]


def test_edit_needs_sign_in_and_csrf(app, client, auth):
    answer = client.get("/profile/edit")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    auth.login("tester")
    answer = client.post("/profile/edit", data={"nickname": "hacked"})
    assert answer.status_code == 400
    assert nicknames(app) == [("tester", None)]
