"""Services that go quiet: a silent PostgreSQL and an unreachable Redis must not stall the site."""

import logging
import shutil
import subprocess
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from app import create_app
from app.database import dispose_engines
from tests.support.redis import free_port, wait_for_redis
from tests.support.silent_proxy import SilentProxy
from tests.support.web import LiveServer, WebClient, csrf_token, flashes, live_site

pytestmark = pytest.mark.e2e
BOUND = 15  # seconds a request may take before the test calls it stalled


# --- PostgreSQL behind a proxy that goes silent ----------------------------------------------------


@pytest.fixture
def silent_proxy(database_url):
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    proxy = SilentProxy(parts.hostname, parts.port or 5432)
    yield proxy
    proxy.close()


@pytest.fixture
def proxied_site(database_url, silent_proxy):
    parts = urlsplit(database_url)
    netloc = (
        f"{parts.username}@127.0.0.1:{silent_proxy.port}"
        if parts.username
        else f"127.0.0.1:{silent_proxy.port}"
    )
    url = urlunsplit(parts._replace(netloc=netloc))
    app = create_app(
        "testing",
        {"SQLALCHEMY_DATABASE_URI": url, "DATABASE_CONNECT_TIMEOUT": 2, "DATABASE_STATEMENT_TIMEOUT": 1.0},
    )
    server = live_site(app).start()
    yield app, WebClient(server.url)
    server.stop()
    with app.app_context():
        dispose_engines()


def test_silent_database_gives_the_503_page_and_healthz_answers(proxied_site, silent_proxy):
    app, browser = proxied_site
    browser.sign_in_local("alice", nickname="alice")  # a pooled connection exists, mid-session
    assert browser.get("/healthz", timeout=BOUND).status_code == 200
    silent_proxy.silence()
    health = browser.get("/healthz", timeout=BOUND)  # the pooled connection: cut by the watchdog
    assert health.status_code == 503
    page = browser.get("/", timeout=BOUND)
    assert page.status_code == 503
    assert "cannot reach its database" in page.text
    health = browser.get("/healthz", timeout=BOUND)  # a new connection: the connect timeout
    assert health.status_code == 503
    assert WebClient(browser.base_url).get("/login", timeout=BOUND).status_code == 200  # needs no database
    silent_proxy.speak()
    assert browser.get("/healthz", timeout=BOUND).status_code == 200  # recovers by itself


# --- Redis (the rate-limit storage) stopped and started again ---------------------------------------


class PrivateRedis:
    """A redis-server of our own on a fixed free loopback port, to stop and start at will."""

    def __init__(self, directory):
        self.exe = shutil.which("redis-server")
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([*args, "--dir", str(self.directory)], stdout=subprocess.DEVNULL)
        wait_for_redis(self.url)

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def start_empty_sign_in(browser):
    """POST /login with no identifier: rate-limited, and answered by the login page with a message."""
    form = browser.get("/login", timeout=BOUND)
    return browser.post("/login", {"csrf_token": csrf_token(form.text), "openid": ""}, timeout=BOUND)


def site_on_private_redis(database_url, setting, redis_url):
    """An app keeping `setting` (RATELIMIT_STORAGE_URI or CACHE_URL) in the private Redis, under a
    key prefix of its own; returns the app and the prefix."""
    prefix = f"microblog-quiet-{uuid.uuid4().hex}"
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, setting: redis_url, "RATELIMIT_KEY_PREFIX": prefix}
    return create_app("testing", settings), prefix


def test_sign_in_keeps_working_on_per_process_limits_while_redis_is_down(database_url, private_redis, caplog):
    app, prefix = site_on_private_redis(database_url, "RATELIMIT_STORAGE_URI", private_redis.url)
    server = LiveServer(app).start()
    browser = WebClient(server.url)
    counters = redis.Redis.from_url(private_redis.url)
    try:
        assert start_empty_sign_in(browser).status_code == 200
        assert counters.keys(f"*{prefix}*"), "counted in Redis"
        private_redis.stop()
        caplog.set_level(logging.WARNING)
        answer = start_empty_sign_in(browser)
        assert answer.status_code == 200, answer.text
        assert flashes(answer.text)  # the login page's own message, not an error page
        assert "falling back to in-memory storage" in caplog.text
        private_redis.start()
        counters.flushdb()
        recovered = False
        for _attempt in range(40):  # Flask-Limiter retries Redis after 1 s, then 2 s, ...
            start_empty_sign_in(browser)
            if counters.keys(f"*{prefix}*"):
                recovered = True
                break
            time.sleep(0.25)
        assert recovered, "counting went back to Redis"
    finally:
        server.stop()
        with app.app_context():
            dispose_engines()


# --- Redis (the shared page cache) stopped and started again ----------------------------------------


def test_pages_stay_right_while_the_cache_redis_is_down_and_use_it_again_after(
    database_url, private_redis, caplog, monkeypatch
):
    from tests.conftest import AuthActions
    from tests.support.web import csrf_token

    monkeypatch.setattr("app.shared_cache.RETRY_AFTER", 0.0)  # try Redis again on the next request
    app, prefix = site_on_private_redis(database_url, "CACHE_URL", private_redis.url)
    entries = redis.Redis.from_url(private_redis.url)
    writer, visitor = app.test_client(), app.test_client()
    AuthActions(app, writer).login("writer")

    def publish(body):
        token = csrf_token(writer.get("/").text)
        assert writer.post("/", data={"csrf_token": token, "body": body}).status_code == 302

    try:
        publish("before the outage")
        assert "before the outage" in visitor.get("/").text
        assert entries.keys(f"{prefix}*"), "kept in Redis"
        private_redis.stop()
        caplog.set_level(logging.WARNING, logger="app.shared_cache")
        publish("during the outage")
        for client in (visitor, writer):
            page = client.get("/")
            assert page.status_code == 200
            assert "during the outage" in page.text and "before the outage" in page.text
        assert "shared cache unavailable" in caplog.text
        private_redis.start()
        entries.flushdb()
        assert "during the outage" in visitor.get("/").text
        assert entries.keys(f"{prefix}*"), "kept in Redis again"
    finally:
        with app.app_context():
            dispose_engines()
