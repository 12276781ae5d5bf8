"""Several app processes on one database share sign-in state: sessions, OpenID nonces and
associations, rate-limit counters. And the documented production command runs several workers."""

import json
import os
import runpy
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import requests
from sqlalchemy import delete, func, select

from app.auth.openid2.consumer import ATTEMPT_EXPIRED, RETURN_TO_NONCE_URL
from app.extensions import db
from app.models import OpenIDAssociation, OpenIDNonce, User
from tests.support.python_run import python_lines
from tests.support.web import SIGNED_IN_ONLY, csrf_token, flashes
from tests.support.workers import ROOT, GunicornApp, children, start_all, stop_all

SECRET = "shared-by-every-worker-" + "s" * 40
PUBLIC_HOST = "microblog.test"  # the one name both workers serve behind the (simulated) load balancer
NOT_VERIFIED = "The provider's answer could not be verified. Please try again."


@pytest.fixture
def two_workers(app):
    """Two independent gunicorn processes (testing config) on the test database."""
    env = {
        "MICROBLOG_CONFIG": "testing",
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
    }
    workers = [GunicornApp(env), GunicornApp(env)]
    yield start_all(workers)
    stop_all(workers)


class Browser:
    """A browser behind a load balancer: every request is for PUBLIC_HOST; the test picks the worker."""

    def __init__(self, cookies=None):
        self.http = requests.Session()
        if cookies is not None:
            self.http.cookies.update(cookies)

    def request(self, method, worker, url, **kwargs):
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Host": PUBLIC_HOST}
        return self.http.request(
            method, worker.url + path, headers=headers, allow_redirects=False, timeout=15, **kwargs
        )

    def get(self, worker, url):
        return self.request("GET", worker, url)

    def post(self, worker, url, data):
        return self.request("POST", worker, url, data=data)

    def start_sign_in(self, worker, identifier):
        """Submit the login form; return the provider URL the app redirects to."""
        form = self.get(worker, "/login")
        started = self.post(worker, "/login", {"csrf_token": csrf_token(form.text), "openid": identifier})
        assert started.status_code == 302, started.text
        return started.headers["Location"]


def provider_answer(provider_url):
    """Let the (auto-approving) provider answer; return the callback URL it sends the browser to."""
    answer = requests.get(provider_url, allow_redirects=False, timeout=15)
    assert answer.status_code == 302
    callback = answer.headers["Location"]
    assert callback.startswith(f"http://{PUBLIC_HOST}/login/openid/complete?")
    return callback


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.e2e
def test_a_session_started_on_one_worker_is_valid_on_the_other(app, two_workers, openid_provider):
    worker_a, worker_b = two_workers
    openid_provider.behaviour.profiles["alice"] = {"nickname": "alice"}
    browser = Browser()
    callback = provider_answer(browser.start_sign_in(worker_a, openid_provider.identity("alice")))
    assert browser.get(worker_a, callback).headers["Location"] == "/"
    for worker in (worker_b, worker_a, worker_b):
        assert "Hi, alice!" in browser.get(worker, "/").text
    assert count(app, User) == 1


@pytest.mark.e2e
def test_an_openid_answer_replayed_to_another_worker_is_rejected(app, two_workers, openid_provider):
    worker_a, worker_b = two_workers
    openid_provider.behaviour.profiles["alice"] = {"nickname": "alice"}
    browser = Browser()
    provider_url = browser.start_sign_in(worker_a, openid_provider.identity("alice"))
    # The cookies as they were before the answer arrived: the attempt's return_to token is
    # still in them, so only records in the shared database can tell the replay apart.
    before_answer = browser.http.cookies.copy()
    callback = provider_answer(provider_url)
    assert browser.get(worker_a, callback).headers["Location"] == "/"
    assert "Hi, alice!" in browser.get(worker_a, "/").text
    # One spent return_to token and one used response nonce, both in the shared table.
    assert count(app, OpenIDNonce) == 2 and count(app, OpenIDAssociation) == 1

    def replay_on_b():
        replay = Browser(before_answer)
        response = replay.get(worker_b, callback)
        assert response.status_code == 302
        return replay, response

    replay, rejected = replay_on_b()
    assert rejected.headers["Location"].startswith("/login")
    assert ("error", ATTEMPT_EXPIRED) in flashes(replay.get(worker_b, rejected.headers["Location"]).text)
    assert replay.get(worker_b, SIGNED_IN_ONLY).headers["Location"].startswith("/login")  # not signed in

    # Second layer: with the spent token forgotten, worker B still refuses the used response nonce.
    with app.app_context():
        db.session.execute(delete(OpenIDNonce).where(OpenIDNonce.server_url == RETURN_TO_NONCE_URL))
        db.session.commit()
    replay, rejected = replay_on_b()
    assert rejected.headers["Location"].startswith("/login")
    assert ("error", NOT_VERIFIED) in flashes(replay.get(worker_b, rejected.headers["Location"]).text)
    assert count(app, User) == 1

    # Control: with no records at all, the very same replay is accepted by worker B. So the
    # signature, association and session all checked out: the shared table stopped it.
    with app.app_context():
        db.session.execute(delete(OpenIDNonce))
        db.session.commit()
    accepted, response = replay_on_b()
    assert response.headers["Location"] == "/"
    assert "Hi, alice!" in accepted.get(worker_b, "/").text


@pytest.mark.e2e
def test_an_association_made_by_one_worker_is_used_by_the_other(app, two_workers, openid_provider):
    worker_a, worker_b = two_workers
    for worker, name in ((worker_a, "first"), (worker_b, "second")):
        openid_provider.behaviour.profiles[name] = {"nickname": name}
        browser = Browser()
        callback = provider_answer(browser.start_sign_in(worker, openid_provider.identity(name)))
        assert browser.get(worker, callback).headers["Location"] == "/"
    associate_requests = [r for r in openid_provider.requests if r.get("openid.mode") == "associate"]
    assert len(associate_requests) == 1  # worker B found worker A's association in the database
    assert count(app, OpenIDAssociation) == 1 and count(app, User) == 2


# --- rate limits in Redis ---------------------------------------------------------------------


def sign_in_attempts(workers):
    """POST /login (empty, so it goes nowhere) once on each worker in turn; return the statuses."""
    statuses = []
    for worker in workers:
        browser = Browser()
        form = browser.get(worker, "/login")
        statuses.append(
            browser.post(worker, "/login", {"csrf_token": csrf_token(form.text), "openid": ""}).status_code
        )
    return statuses


def limited_workers(app, **env):
    settings = {
        "MICROBLOG_CONFIG": "testing",
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "LOGIN_RATE_LIMIT": "4 per minute",
        **env,
    }
    return start_all([GunicornApp(settings), GunicornApp(settings)])


@pytest.mark.e2e
def test_sign_in_rate_limit_is_shared_through_redis(app, redis_url):
    prefix = f"microblog-test-{uuid.uuid4().hex}"
    workers = limited_workers(app, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX=prefix)
    try:
        statuses = sign_in_attempts([*workers, *workers, *workers])
    finally:
        stop_all(workers)
    assert statuses == [200, 200, 200, 200, 429, 429]
    keys = redis.Redis.from_url(redis_url).keys(f"*{prefix}*")
    assert keys, "the counters are in Redis"


@pytest.mark.e2e
def test_without_shared_storage_each_worker_counts_alone(app):
    workers = limited_workers(app)  # memory:// (the default)
    try:
        statuses = sign_in_attempts([*workers, *workers, *workers])
    finally:
        stop_all(workers)
    assert statuses == [200, 200, 200, 200, 200, 200]  # why production sets RATELIMIT_STORAGE_URI


# --- the production command ------------------------------------------------------------------------


def production_env(database_url, **extra):
    return {
        "MICROBLOG_CONFIG": "production",
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url,
        "OPENID_ALLOW_PRIVATE_HOSTS": "1",  # the test provider is on loopback
        **extra,
    }


class PlainHttpBrowser(Browser):
    """Sends the production cookies (Secure, __Host-) back over plain http: the test has no TLS."""

    def request(self, *args, **kwargs):
        response = super().request(*args, **kwargs)
        for cookie in self.http.cookies:
            cookie.secure = False
        return response


@pytest.mark.e2e
def test_production_command_runs_several_workers_sharing_sign_in(app, openid_provider):
    server = GunicornApp(production_env(app.config["SQLALCHEMY_DATABASE_URI"]), workers=2).start()
    try:
        openid_provider.behaviour.profiles["dave"] = {"nickname": "dave"}
        browser = PlainHttpBrowser()
        callback = provider_answer(browser.start_sign_in(server, openid_provider.identity("dave")))
        assert browser.get(server, callback).headers["Location"] == "/"
        cookies = browser.http.cookies.copy()

        def signed_in_page(_):
            fresh = PlainHttpBrowser(cookies)  # a new connection each time: the kernel picks the worker
            return fresh.get(server, "/").text

        with ThreadPoolExecutor(8) as pool:
            pages = list(pool.map(signed_in_page, range(80)))
    finally:
        server.stop()
    assert all("Hi, dave!" in page for page in pages)
    entries = [json.loads(line) for line in server.lines if line.strip()]  # every line is JSON
    boots = [e for e in entries if e["message"].startswith("Booting worker")]
    assert len(boots) == 2
    served_index = {e["pid"] for e in entries if e["logger"] == "microblog.request" and e["path"] == "/"}
    assert len(served_index) == 2, "both workers served the signed-in page"
    assert "openid." not in server.output and callback.split("?")[1] not in server.output


@pytest.mark.e2e
def test_production_command_refuses_to_start_without_secret_key(database_url):
    env = {**os.environ, **production_env(database_url), "WEB_CONCURRENCY": "1"}
    env.pop("SECRET_KEY")
    command = GunicornApp(env).command  # the production command, not started
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stdout + result.stderr


def gunicorn_settings(monkeypatch, **env):
    for key in ("PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_config_takes_workers_and_port_from_the_environment(monkeypatch):
    settings = gunicorn_settings(monkeypatch, WEB_CONCURRENCY="6", PORT="8080")
    assert settings["workers"] == 6 and settings["bind"] == ["0.0.0.0:8080"]
    default = gunicorn_settings(monkeypatch)
    assert default["workers"] == 2 * os.cpu_count() + 1 and default["workers"] > 1
    assert default["bind"] == ["127.0.0.1:8000"]
    assert default["accesslog"] is None  # gunicorn's access log would print OpenID answers


# --- worker memory ---------------------------------------------------------------------------------

GLIBC_HEAP = 64 * 1024 * 1024  # what glibc reserves, aligned to its size, for each extra malloc arena


def malloc_arenas_beyond_the_main_one(pid):
    """glibc's extra malloc arenas in a process: 64 MiB-aligned anonymous reservations of 64 MiB."""
    maps = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        start, end = (int(address, 16) for address in fields[0].split("-"))
        maps.append((start, end, fields[1], fields[5] if len(fields) > 5 else ""))
    found = 0
    for (start, end, perms, path), after in zip(maps, [*maps[1:], None], strict=True):
        if path or start % GLIBC_HEAP or not perms.startswith("rw"):
            continue
        if after is not None and after[0] == end and after[2].startswith("---") and not after[3]:
            end = after[1]  # the reserved, not yet usable rest of the arena's heap
        found += end - start == GLIBC_HEAP
    return found


def arenas_after_concurrent_pages(database_url, **env):
    """Serve pages to 8 clients at once from one production worker; count its extra malloc arenas."""
    server = GunicornApp(production_env(database_url, **env), workers=1).start()
    try:
        with ThreadPoolExecutor(8) as pool:
            statuses = set(
                pool.map(lambda _: requests.get(server.url + "/login", timeout=10).status_code, range(80))
            )
        assert statuses == {200}
        (worker,) = children(server.process.pid)
        return malloc_arenas_beyond_the_main_one(worker)
    finally:
        server.stop()


@pytest.mark.e2e
@pytest.mark.skipif(
    not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"), reason="glibc's arenas"
)
def test_a_workers_threads_share_one_malloc_arena(database_url):
    """Freed memory kept in one arena per thread is about 2 MB a worker: the threads share the main one,
    unless MALLOC_ARENA_MAX says otherwise (which also shows the arenas would be seen)."""
    assert arenas_after_concurrent_pages(database_url) == 0
    assert arenas_after_concurrent_pages(database_url, MALLOC_ARENA_MAX="8") >= 1


@pytest.mark.e2e
def test_the_master_preloads_only_libraries_every_worker_loads(monkeypatch):
    """gunicorn.conf.py imports a few compiled libraries in the master (each worker then holds only the
    pages of them it uses): only libraries, never the app's code (a HUP loads new code), and only ones a
    worker loads in any case (else every worker would carry them for nothing)."""
    preloaded = gunicorn_settings(monkeypatch)["PRELOADED_LIBRARIES"]
    assert preloaded and not any(name.split(".")[0] in ("app", "config") for name in preloaded)
    code = (
        "import sys; from app import create_app;"
        "app = create_app('production', {'SECRET_KEY': 'x' * 40, 'SQLALCHEMY_DATABASE_URI': 'sqlite://'});"
        "print(sorted(sys.modules))"
    )
    lines = python_lines(code)
    loaded = lines[-1]
    assert all(repr(name) in loaded for name in preloaded), (preloaded, loaded)


def libraries_the_master_loads(tmp_path, **env):
    """Run gunicorn.conf.py's on_starting as the master does; which of its optional libraries it loaded."""
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('conf', 'gunicorn.conf.py')\n"
        "conf = importlib.util.module_from_spec(spec); spec.loader.exec_module(conf)\n"
        "class Log:\n"
        "    def warning(self, msg, *args): pass\n"
        "    def error(self, msg, *args): print('ERROR', msg % args)\n"
        "class Server: log = Log()\n"
        "conf.on_starting(Server())\n"
        "print([name for name in conf.OIDC_LIBRARIES if name in sys.modules])\n"
    )
    settings = {"MICROBLOG_CONFIG": "production", "SECRET_KEY": "x" * 40}
    settings["DATABASE_URL"] = f"sqlite:///{tmp_path / 'site.db'}"
    return python_lines(code, {**os.environ, **settings, **env})[-1]


@pytest.mark.e2e
def test_the_master_preloads_cryptography_only_when_an_oidc_provider_is_configured(tmp_path):
    """A worker loads cryptography's compiled core at its first OpenID Connect callback: with a provider
    configured the master loads it once for all of them, without one nobody needs it."""
    assert libraries_the_master_loads(tmp_path) == "[]"
    configured = {
        "OIDC_EXAMPLE_CLIENT_ID": "microblog",
        "OIDC_EXAMPLE_CLIENT_SECRET": "s" * 32,
        "OIDC_EXAMPLE_ISSUER": "https://id.example.test",
    }
    preloaded = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["OIDC_LIBRARIES"]
    assert libraries_the_master_loads(tmp_path, **configured) == repr(list(preloaded))
    code = "import sys; import app.auth.oidc.callback; print(sorted(sys.modules))"
    loaded = python_lines(code)[-1]
    assert all(repr(name) in loaded for name in preloaded)  # what the callback loads anyway
