"""Moderation from the command line: delete a post, suspend and unsuspend an account, list accounts."""

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.main.posts import count_posts
from app.models import Post, User
from app.moderation import SUSPENDED_MESSAGE
from app.ops.logs import StdoutHandler
from tests.support.web import WebClient, csrf_token, flashes

MODERATION_LOGGER = "microblog.moderation"


@pytest.fixture(autouse=True)
def no_stray_json_log_handler():
    """A production app built by an earlier test may have left its stdout JSON handler on the root."""
    root = logging.getLogger()
    stray = [h for h in root.handlers if isinstance(h, StdoutHandler)]
    for handler in stray:
        root.removeHandler(handler)
    yield
    for handler in stray:
        root.addHandler(handler)


def add_post(app, nickname, body, timestamp=None):
    with app.app_context():
        user = db.session.scalars(select(User).where(User.nickname == nickname)).one()
        post = Post(body=body, author=user, timestamp=timestamp or datetime.now(UTC))
        db.session.add(post)
        count_posts(user.id, 1)  # as publish_post does
        db.session.commit()
        return post.id


def user_row(app, nickname):
    with app.app_context():
        user = db.session.scalars(select(User).where(User.nickname == nickname)).one()
        db.session.expunge(user)
        return user


def moderation_logs(caplog):
    return [r.getMessage() for r in caplog.records if r.name == MODERATION_LOGGER]


# --- flask posts delete ------------------------------------------------------------------------


def test_posts_delete_removes_the_post_and_logs_it(app, runner, auth, client, caplog):
    auth.login("mallory")
    post_id = add_post(app, "mallory", "buy cheap pills")
    kept = add_post(app, "mallory", "an ordinary post")
    assert f'id="post-{post_id}"' in client.get("/").text  # how an operator finds the id
    caplog.set_level(logging.INFO, logger=MODERATION_LOGGER)
    result = runner.invoke(args=["posts", "delete", str(post_id)])
    assert result.exit_code == 0, result.output
    assert result.output == f"Deleted post {post_id} by mallory.\n"
    with app.app_context():
        assert db.session.get(Post, post_id) is None and db.session.get(Post, kept) is not None
    assert moderation_logs(caplog) == [f"moderation: deleted post {post_id} by 'mallory'"]
    assert "buy cheap pills" not in client.get("/").text
    assert user_row(app, "mallory").post_count == 1  # counted down with the deletion
    assert "</span> 1 post\n" in client.get("/user/mallory").text


def test_posts_delete_of_a_missing_post_is_one_clear_line(runner):
    result = runner.invoke(args=["posts", "delete", "999"])
    assert result.exit_code == 1
    assert result.output == "Error: no post has the id 999\n"


def test_posts_delete_wants_a_number(runner):
    result = runner.invoke(args=["posts", "delete", "abc"])
    assert result.exit_code == 2 and "'abc' is not a valid integer" in result.output


# --- flask users suspend / unsuspend ---------------------------------------------------------------


def test_suspend_ends_sessions_and_hides_profile_and_posts(app, runner, auth, client, caplog):
    auth.login("mallory")
    add_post(app, "mallory", "something abusive")
    before = user_row(app, "mallory")
    reader = app.test_client()
    AuthReader = type(auth)  # noqa: N806 - the fixture's class, for a second person
    AuthReader(app, reader).login("reader")
    assert "something abusive" in reader.get("/").text

    caplog.set_level(logging.INFO, logger=MODERATION_LOGGER)
    result = runner.invoke(args=["users", "suspend", "mallory"])
    assert result.exit_code == 0, result.output
    assert result.output == "Suspended mallory: signed out everywhere; profile and posts hidden.\n"
    assert moderation_logs(caplog) == [
        f"moderation: suspended user 'mallory' (id {before.id}); their sessions ended"
    ]
    after = user_row(app, "mallory")
    assert after.suspended_at is not None and after.session_token != before.session_token

    # Their session has ended: the next request is a visitor's.
    assert "Hi, mallory!" not in client.get("/").text
    assert client.get("/profile/edit").status_code == 302
    # Profile and posts are hidden from everyone.
    assert reader.get("/user/mallory").status_code == 404
    assert reader.get("/user/MALLORY").status_code == 404
    assert "something abusive" not in reader.get("/").text
    assert "something abusive" not in app.test_client().get("/").text  # nor to visitors


def test_unsuspend_shows_the_profile_and_posts_again(app, runner, auth, caplog):
    auth.login("mallory")
    add_post(app, "mallory", "back again")
    assert runner.invoke(args=["users", "suspend", "mallory"]).exit_code == 0
    caplog.set_level(logging.INFO, logger=MODERATION_LOGGER)
    caplog.clear()
    result = runner.invoke(args=["users", "unsuspend", "Mallory"])  # any letter case finds them
    assert result.exit_code == 0 and result.output == "Unsuspended mallory: they can sign in again.\n"
    assert user_row(app, "mallory").suspended_at is None
    assert len(moderation_logs(caplog)) == 1 and "unsuspended user 'mallory'" in moderation_logs(caplog)[0]
    visitor = app.test_client()
    assert "back again" in visitor.get("/user/mallory").text


def test_suspend_and_unsuspend_twice_say_so_and_change_nothing(app, runner, auth):
    auth.login("mallory")
    assert runner.invoke(args=["users", "suspend", "mallory"]).exit_code == 0
    token = user_row(app, "mallory").session_token
    again = runner.invoke(args=["users", "suspend", "mallory"])
    assert again.exit_code == 0 and again.output == "mallory was already suspended.\n"
    assert user_row(app, "mallory").session_token == token
    assert runner.invoke(args=["users", "unsuspend", "mallory"]).exit_code == 0
    twice = runner.invoke(args=["users", "unsuspend", "mallory"])
    assert twice.exit_code == 0 and twice.output == "mallory is not suspended.\n"


@pytest.mark.parametrize("command", ["suspend", "unsuspend"])
def test_an_unknown_nickname_is_one_clear_line(runner, command):
    result = runner.invoke(args=["users", command, "nobody"])
    assert result.exit_code == 1
    assert result.output == "Error: no user has the nickname 'nobody'\n"


def test_a_suspended_user_cannot_post_with_an_old_form(app, runner, auth, client):
    auth.login("mallory")
    token = csrf_token(client.get("/").text)
    assert runner.invoke(args=["users", "suspend", "mallory"]).exit_code == 0
    answer = client.post("/", data={"csrf_token": token, "body": "one more"})
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    with app.app_context():
        assert db.session.scalars(select(Post)).all() == []


# --- flask users list ----------------------------------------------------------------------------


def test_users_list_shows_status_sign_ins_posts_and_last_activity(app, runner, auth):
    auth.login("alice")
    auth.login("bob")
    auth.login("carol")
    with app.app_context():
        alice = db.session.scalars(select(User).where(User.nickname == "alice")).one()
        alice.sign_in_count = 3
        alice.last_sign_in_at = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
        db.session.commit()
    add_post(app, "alice", "older than her sign-in", datetime(2030, 1, 1, tzinfo=UTC))
    add_post(app, "bob", "bob's post", datetime(2030, 2, 3, 4, 5, tzinfo=UTC))
    runner.invoke(args=["users", "suspend", "bob"])
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NICKNAME", "STATUS", "SIGN-INS", "POSTS", "LAST", "ACTIVITY"]
    assert lines[1].split() == ["alice", "active", "3", "1", "2030-01-02", "03:04", "UTC"]
    assert lines[2].split() == ["bob", "suspended", "0", "1", "2030-02-03", "04:05", "UTC"]
    assert lines[3].split() == ["carol", "active", "0", "0", "never"]
    assert lines[4] == "3 users, 1 suspended."


def test_users_list_on_an_empty_site(runner):
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "0 users, 0 suspended."


def test_moderation_commands_are_listed(runner):
    assert "posts" in runner.invoke(args=["--help"]).output
    listed = runner.invoke(args=["users", "--help"]).output
    assert all(name in listed for name in ("list", "suspend", "unsuspend"))


# --- end to end: the sign-in flow over real HTTP ----------------------------------------------------


@pytest.mark.e2e
def test_a_suspended_user_cannot_sign_in_and_their_remember_cookie_dies(app, runner, browser, live_server):
    page = browser.sign_in_local("mallory", remember=True, nickname="mallory")
    assert "Hi, mallory!" in page.text
    remember = browser.http.cookies.get("remember_token")
    assert runner.invoke(args=["users", "suspend", "mallory"]).exit_code == 0

    # The open session and the remember cookie both stopped working.
    assert browser.get("/profile/edit").url.startswith(live_server.url + "/login")
    fresh = WebClient(live_server.url)
    fresh.http.cookies.set("remember_token", remember, domain="127.0.0.1")
    assert fresh.get("/profile/edit").url.startswith(live_server.url + "/login")

    # Signing in again is refused with a clear message, and nobody is signed in.
    refused = WebClient(live_server.url).sign_in_local("mallory")
    assert refused.url.startswith(live_server.url + "/login")
    assert ("error", SUSPENDED_MESSAGE) in flashes(refused.text)
    assert user_row(app, "mallory").sign_in_count == 1

    assert runner.invoke(args=["users", "unsuspend", "mallory"]).exit_code == 0
    again = WebClient(live_server.url).sign_in_local("mallory")
    assert "Hi, mallory!" in again.text


@pytest.mark.e2e
def test_sign_ins_are_counted_for_users_list(app, runner, browser, live_server):
    for _ in range(3):
        browser.sign_in_local("alice", nickname="alice")
        browser.logout()
    row = user_row(app, "alice")
    assert row.sign_in_count == 3 and row.last_sign_in_at is not None
    [line] = [line for line in runner.invoke(args=["users", "list"]).output.splitlines() if "alice" in line]
    assert line.split()[:4] == ["alice", "active", "3", "0"] and line.endswith("UTC")
