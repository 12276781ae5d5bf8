"""The shared cache of post lists: it serves hits, every change shows at once (in every process),
nothing personal is shared, relative times stay right, and a cache outage breaks no page."""

import logging
import pickle
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

import app.main.fragments as fragments
from app import create_app
from app.database import dispose_engines
from app.extensions import cache, db
from app.main.filters import ago, as_utc
from app.models import ContentVersion, Post, User
from app.shared_cache import RECENT_KEY, RecentEntries, cache_settings, cache_url
from config import ConfigError, load_config
from tests.conftest import AuthActions
from tests.support.python_run import python_lines
from tests.support.queries import recorded_queries
from tests.support.redis import free_port
from tests.support.web import csrf_token, timeline

ROOT = Path(__file__).resolve().parents[1]
POSTS_SELECT = re.compile(r"\bFROM post\b")


# --- Helpers --------------------------------------------------------------------------------------


def signed_in(app, nickname):
    """A test client of app signed in as nickname (the account is made if new)."""
    client = app.test_client()
    AuthActions(app, client).login(nickname)
    return client


def view(app, client, path):
    """The SQL statements run to serve path, and the page."""
    with recorded_queries(app) as queries:
        page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return [statement for statement, _ in queries], page.get_data(as_text=True)


def reads_posts(queries):
    return any(POSTS_SELECT.search(q) for q in queries)


def publish(client, body):
    """Post body through the front page's form, as a person does."""
    token = csrf_token(client.get("/").text)
    answer = client.post("/", data={"csrf_token": token, "body": body})
    assert answer.status_code == 302, answer.text


def post_id(app, body):
    with app.app_context():
        return db.session.scalar(select(Post.id).where(Post.body == body))


def change_nickname(client, nickname):
    token = csrf_token(client.get("/profile/edit").text)
    answer = client.post("/profile/edit", data={"csrf_token": token, "nickname": nickname, "email": ""})
    assert answer.status_code == 302, answer.text


def delete_account(client, nickname):
    token = csrf_token(client.get("/account/delete").text)
    answer = client.post("/account/delete", data={"csrf_token": token, "nickname": nickname})
    assert answer.status_code == 302, answer.text


def cached_values(app):
    """Every entry of the app's in-process cache, as stored."""
    with app.app_context():
        backend = cache.cache
        return [backend.get(key) for key in list(backend._cache)]


def dispose(app):
    with app.app_context():
        db.session.remove()
        dispose_engines()


@pytest.fixture(params=["same worker", "another worker"])
def reader_app(request, app, database_url):
    """Where readers read: the writer's own app, or another on the same database with its own cache."""
    if request.param == "same worker":
        yield app
        return
    other = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    yield other
    dispose(other)


@pytest.fixture
def writer(app):
    """A signed-in author with one post already out."""
    client = signed_in(app, "writer")
    publish(client, "first words")
    return client


def readers(reader_app):
    """A visitor and a signed-in reader: the version comes alone for one, with the user for the other."""
    return {"visitor": reader_app.test_client(), "reader": signed_in(reader_app, "reader")}


def read_all(reader_app, clients, paths=("/", "/user/writer")):
    """Every page as every reader sees it now (filling the cache)."""
    return {
        (who, path): view(reader_app, client, path)[1] for who, client in clients.items() for path in paths
    }


# --- Hits ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["visitor", "signed in"])
def test_a_second_view_of_the_front_page_reads_no_posts(app, writer, who):
    client = app.test_client() if who == "visitor" else signed_in(app, "reader")
    first_queries, first = view(app, client, "/")
    again_queries, again = view(app, client, "/")
    assert reads_posts(first_queries) and len(first_queries) <= 3
    assert not reads_posts(again_queries), again_queries
    assert len(again_queries) == 1, again_queries  # the version (with the user when signed in)
    assert "first words" in again


@pytest.mark.parametrize("who", ["visitor", "signed in"])
def test_a_second_view_of_a_profile_reads_no_posts(app, writer, who):
    client = app.test_client() if who == "visitor" else signed_in(app, "reader")
    first_queries, first = view(app, client, "/user/writer")
    again_queries, again = view(app, client, "/user/writer")
    assert reads_posts(first_queries) and len(first_queries) <= 3, first_queries
    assert not reads_posts(again_queries), again_queries
    assert len(again_queries) == 2, again_queries  # the version (or the user with it), the profile
    assert timeline(again) == timeline(first)  # (a signed-in page's CSRF token carries the second)


def test_the_version_comes_with_the_signed_in_user_in_one_query(app, writer):
    queries, _ = view(app, writer, "/")
    [user_load] = [q for q in queries if "session_token =" in q]
    assert "content_version" in user_load
    assert not any("content_version" in q for q in queries if q != user_load)


def test_a_served_page_is_byte_for_byte_a_fresh_render(app, writer, monkeypatch):
    visitor = app.test_client()
    now = fragments.utcnow()
    monkeypatch.setattr(fragments, "utcnow", lambda: now)
    for path in ("/", "/user/writer"):
        fresh_queries, fresh = view(app, visitor, path)
        cached_queries, served = view(app, visitor, path)
        assert reads_posts(fresh_queries) and not reads_posts(cached_queries)
        assert served == fresh
        with app.app_context():
            cache.clear()


# --- Invalidation: every change shows at once, in every worker --------------------------------------


def test_a_new_post_shows_at_once(app, writer, reader_app):
    clients = readers(reader_app)
    read_all(reader_app, clients)
    publish(writer, "second thoughts")
    for (who, path), page in read_all(reader_app, clients).items():
        assert "second thoughts" in page and "first words" in page, (who, path)


def test_a_post_deleted_from_the_command_line_disappears_at_once(app, writer, reader_app):
    publish(writer, "regrettable")
    clients = readers(reader_app)
    assert all("regrettable" in page for page in read_all(reader_app, clients).values())
    result = app.test_cli_runner().invoke(args=["posts", "delete", str(post_id(app, "regrettable"))])
    assert result.exit_code == 0, result.output
    for (who, path), page in read_all(reader_app, clients).items():
        assert "regrettable" not in page and "first words" in page, (who, path)


def test_a_nickname_change_shows_in_the_timeline_and_on_the_profile_at_once(app, writer, reader_app):
    clients = readers(reader_app)
    read_all(reader_app, clients)
    change_nickname(writer, "scribe")
    for who, client in clients.items():
        _, front = view(reader_app, client, "/")
        assert 'href="/user/scribe"><bdi>scribe</bdi>' in front, who
        assert ">writer<" not in front, who
        _, profile = view(reader_app, client, "/user/scribe")
        assert "first words" in profile and 'href="/user/scribe"><bdi>scribe</bdi>' in profile, who


def test_suspension_hides_the_posts_and_unsuspension_brings_them_back_at_once(app, writer, reader_app):
    clients = readers(reader_app)
    read_all(reader_app, clients)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "suspend", "writer"]).exit_code == 0
    for who, client in clients.items():
        assert "first words" not in view(reader_app, client, "/")[1], who
        assert client.get("/user/writer").status_code == 404, who
    assert runner.invoke(args=["users", "unsuspend", "writer"]).exit_code == 0
    for (who, path), page in read_all(reader_app, clients).items():
        assert "first words" in page, (who, path)


def test_account_deletion_removes_the_posts_at_once(app, writer, reader_app):
    clients = readers(reader_app)
    read_all(reader_app, clients)
    delete_account(writer, "writer")
    for who, client in clients.items():
        assert "first words" not in view(reader_app, client, "/")[1], who
        assert client.get("/user/writer").status_code == 404, who


def test_every_change_moves_the_version_in_its_own_transaction(app, writer):
    def version():
        with app.app_context():
            return db.session.scalar(select(ContentVersion.version))

    start = version()
    publish(writer, "one more")
    published = version()
    assert published > start
    change_nickname(writer, "writer")  # the same name: nothing readers see changes
    assert version() == published
    change_nickname(writer, "scribe")
    assert version() > published


def test_the_version_never_comes_back_to_a_number_used_before(app, writer):
    visitor = app.test_client()
    view(app, visitor, "/")
    with app.app_context():
        db.session.execute(ContentVersion.__table__.delete())
        db.session.commit()
    view(app, visitor, "/")  # cached under version 0, while the entry above is still kept
    publish(writer, "after the reset")
    assert "after the reset" in view(app, visitor, "/")[1]


# --- Nothing personal is shared -------------------------------------------------------------------


def test_two_readers_never_see_each_others_personal_parts(app, writer):
    alice, bob, visitor = signed_in(app, "alice"), signed_in(app, "bob"), app.test_client()
    with app.app_context():
        db.session.execute(update(User).where(User.nickname == "alice").values(email="alice@example.org"))
        db.session.commit()
    publish(alice, "alice was here")
    for _round in range(2):  # the second round is served from the cache
        for path in ("/", "/user/alice"):
            pages = {
                name: view(app, c, path)[1]
                for name, c in (("alice", alice), ("bob", bob), ("visitor", visitor))
            }
            assert all("alice was here" in page for page in pages.values())
            if path == "/":
                assert "Hi, alice!" in pages["alice"] and "Hi, bob!" in pages["bob"]
                assert "Hi, alice!" not in pages["bob"] and "Hi, bob!" not in pages["alice"]
                assert 'id="post-form"' not in pages["visitor"] and "Hi," not in pages["visitor"]
                tokens = {name: csrf_token(pages[name]) for name in ("alice", "bob")}
                assert tokens["alice"] != tokens["bob"]
                assert tokens["alice"] not in pages["bob"] and tokens["bob"] not in pages["alice"]
                assert 'name="csrf_token"' not in pages["visitor"]
            else:
                assert "alice@example.org" in pages["alice"] and 'id="edit-profile"' in pages["alice"]
                for other in ("bob", "visitor"):
                    assert "alice@example.org" not in pages[other] and 'id="edit-profile"' not in pages[other]
                    assert 'id="logout-everywhere"' not in pages[other]
    stored = pickle.dumps(cached_values(app)).decode("latin-1")
    assert stored and "alice was here" in stored
    for personal in ("Hi, ", "csrf_token", "alice@example.org", "edit-profile", "post-form", tokens["alice"]):
        assert personal not in stored, personal


# --- Relative times ---------------------------------------------------------------------------------


def test_relative_times_move_on_without_invalidation(app, writer, monkeypatch):
    visitor = app.test_client()
    with app.app_context():
        moment = as_utc(db.session.scalar(select(Post.timestamp).where(Post.body == "first words")))
    monkeypatch.setattr(fragments, "utcnow", lambda: moment + timedelta(minutes=2, seconds=5))
    queries, early = view(app, visitor, "/")
    assert reads_posts(queries) and "2 minutes ago" in early
    monkeypatch.setattr(fragments, "utcnow", lambda: moment + timedelta(minutes=47))
    queries, later = view(app, visitor, "/")
    assert not reads_posts(queries)  # the same cached list...
    assert "47 minutes ago" in later and "2 minutes ago" not in later  # ...with the time as of now
    now = moment + timedelta(minutes=47)
    times = re.findall(r'<time datetime="([^"]+)" title="[^"]*">([^<]*)</time>', later)
    assert times and all(text == ago(datetime.fromisoformat(when), now) for when, text in times)
    with app.app_context():
        cache.clear()
        app.extensions[RECENT_KEY].clear()
    queries, fresh = view(app, visitor, "/")
    assert reads_posts(queries) and fresh == later


def test_a_page_seen_before_in_this_process_does_not_ask_the_shared_cache(app, writer, monkeypatch):
    visitor = app.test_client()
    view(app, visitor, "/")  # read once: now kept in this process too
    asked = []
    monkeypatch.setattr(cache, "get", lambda key: asked.append(key))
    queries, page = view(app, visitor, "/")
    assert "first words" in page and not reads_posts(queries) and asked == []
    publish(writer, "newer words")  # a new version: a new key, asked of the shared cache
    assert "newer words" in view(app, visitor, "/")[1] and len(asked) == 1


def test_recent_entries_forget_the_least_recently_used_beyond_their_size():
    recent = RecentEntries(2)
    recent.keep("a", ("A",))
    recent.keep("b", ("B",))
    assert recent.get("a") == ("A",)  # "a" is now the most recently used
    recent.keep("c", ("C",))
    assert recent.get("b") is None and recent.get("a") == ("A",) and recent.get("c") == ("C",)


# --- Where the cache lives, and when it fails ------------------------------------------------------


def test_a_cache_that_cannot_be_reached_still_serves_right_pages(database_url, caplog, monkeypatch):
    monkeypatch.setattr("app.shared_cache.RETRY_AFTER", 0.0)
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url, "CACHE_URL": down})
    try:
        writer = signed_in(app, "writer")
        publish(writer, "still here")
        visitor = app.test_client()
        caplog.set_level(logging.WARNING, logger="app.shared_cache")
        for _ in range(2):
            queries, page = view(app, visitor, "/")
            assert "still here" in page and reads_posts(queries)  # rendered every time, never an error
        assert "shared cache unavailable" in caplog.text
        publish(writer, "and this")
        assert "and this" in view(app, visitor, "/")[1]
    finally:
        dispose(app)


@pytest.mark.e2e
def test_workers_share_one_cache_in_redis(database_url, redis_url):
    prefix = f"microblog-cache-test-{uuid.uuid4().hex}"  # the Redis may be shared with other runs
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CACHE_URL": redis_url,
        "RATELIMIT_KEY_PREFIX": prefix,
    }
    first, second = create_app("testing", settings), create_app("testing", settings)
    try:
        writer = signed_in(first, "writer")
        publish(writer, "shared words")
        queries, page = view(first, first.test_client(), "/")
        assert reads_posts(queries) and "shared words" in page
        queries, page = view(second, second.test_client(), "/")  # another worker: the entry is in Redis
        assert not reads_posts(queries) and "shared words" in page
        with first.app_context():
            assert any(
                key.startswith(prefix.encode()) for key in cache.cache._write_client.keys(f"{prefix}*")
            )
        result = first.test_cli_runner().invoke(args=["posts", "delete", str(post_id(first, "shared words"))])
        assert result.exit_code == 0
        assert "shared words" not in view(second, second.test_client(), "/")[1]
    finally:
        dispose(first)
        dispose(second)


@pytest.mark.parametrize(
    ("settings", "where"),
    [
        ({}, "memory://"),
        ({"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/3"}, "redis://127.0.0.1:6379/3"),
        ({"RATELIMIT_STORAGE_URI": "memcached://127.0.0.1:11211"}, "memory://"),
        (
            {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1/3", "CACHE_URL": "redis://10.0.0.9/1"},
            "redis://10.0.0.9/1",
        ),
        ({"RATELIMIT_STORAGE_URI": "redis://127.0.0.1/3", "CACHE_URL": "memory://"}, "memory://"),
    ],
)
def test_the_cache_lives_where_the_settings_say(settings, where):
    config = load_config("testing", settings, environ={})
    assert cache_url(config) == where
    expected_type = "SimpleCache" if where == "memory://" else "RedisCache"
    assert cache_settings(config, "digest")["CACHE_TYPE"] == expected_type


def test_a_cache_url_it_cannot_use_is_refused_at_start():
    with pytest.raises(ConfigError, match="CACHE_URL must start with one of redis://"):
        load_config("testing", environ={"CACHE_URL": "memcached://127.0.0.1:11211"})


@pytest.mark.e2e
def test_a_site_caching_in_memory_never_loads_redis(database_url):
    """redis, with the cryptography package it loads, costs 6 MB a worker: only a Redis cache needs it."""
    code = (
        "import sys; from app import create_app;"
        f"app = create_app('testing', {{'SQLALCHEMY_DATABASE_URI': {database_url!r}}});"
        "page = app.test_client().get('/'); assert page.status_code == 200, page.status_code;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))"
    )
    lines = python_lines(code)
    assert lines == ["[]"]


@pytest.mark.e2e
def test_a_site_loads_only_its_own_databases_dialect(database_url):
    """Bumping the content version on one database never loads the other's SQLAlchemy dialect
    (about 0.5 MB a worker): the upsert for each is built from its own dialect, imported there."""
    other = "sqlite" if database_url.startswith("postgresql") else "postgresql"
    code = (
        "import sys; from app import create_app; from app.extensions import db;"
        "from app.shared_cache import bump_content_version, content_version;"
        f"app = create_app('testing', {{'SQLALCHEMY_DATABASE_URI': {database_url!r}}});"
        "page = app.test_client().get('/'); assert page.status_code == 200, page.status_code;"
        "ctx = app.test_request_context(); ctx.push(); before = content_version();"
        "bump_content_version(); db.session.commit(); db.session.remove();"
        "ctx.pop(); ctx = app.test_request_context(); ctx.push();"
        "assert content_version() > before, (before, content_version());"
        "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.')))"
    )
    lines = python_lines(code)
    loaded = lines[-1]
    assert f"sqlalchemy.dialects.{other}" not in loaded
    assert f"sqlalchemy.dialects.{'postgresql' if other == 'sqlite' else 'sqlite'}" in loaded
