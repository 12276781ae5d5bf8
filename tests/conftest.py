"""Shared fixtures: app, client, runner, a live server and a separate OpenID provider.

The database is SQLite, or PostgreSQL when TEST_DATABASE_URL is set. Either way
the schema comes from the Alembic migrations, applied once per test run; each
test then starts from empty tables (a copy of the migrated SQLite file, or the
PostgreSQL tables truncated).
"""

import compileall
import os
import re
import subprocess
from pathlib import Path

import jinja2
import pytest
from flask import Flask
from werkzeug.routing import Rule

from app import create_app
from app.database import dispose_engines
from app.extensions import db
from tests.support.databases import migrated_postgres, migrated_sqlite, worker_postgres
from tests.support.listener import Listener
from tests.support.openid_provider import TestOpenIDProvider
from tests.support.redis import redis_server_url
from tests.support.web import LiveServer, WebClient, live_site

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")

# Markers (registered in pyproject.toml): the fast run is `pytest -m "not e2e and not browser"`.
# A test is e2e when it uses one of these fixtures, browser when it lives in tests/browser; other
# slow tests carry the marker themselves, and an unmarked test that starts a server or a process
# fails with a message saying so (see `_slow_work_needs_a_marker`).
E2E_FIXTURES = {"live_server", "openid_provider"}
BROWSER_DIR = Path(__file__).parent / "browser"


# The slowest files, slowest first (CPU seconds of each file run alone, whole process tree, on the
# 2-core machine). pytest-xdist's `--dist loadfile` hands out whole files in the order they are
# collected, so starting the long ones first lets the short ones fill the gaps at the end, instead of
# one worker finishing a long file alone while the other waits. Other files follow in their usual
# order. Re-measure when a file grows slow.
SLOWEST_FILES_FIRST = [
    "browser/test_accessibility.py",
    "test_migrations.py",
    "test_readme_production.py",
    "test_workers.py",
    "browser/test_journeys.py",
    "test_bench.py",
    "browser/test_pages.py",
    "browser/test_layout.py",
    "test_schema_state.py",
    "test_account_e2e.py",
    "test_config.py",
    "browser/test_oidc_journey.py",
    "test_oidc_e2e.py",
    "test_pagination.py",
    "test_oidc_attacks.py",
    "browser/test_account_journey.py",
    "test_shared_cache.py",
    "test_redirects.py",
    "test_hostile_providers.py",
    "test_security_web.py",
    "test_nginx.py",
    "test_dev_console.py",
    "test_signin_e2e.py",
    "test_quiet_services.py",
]
TESTS_DIR = Path(__file__).parent


def pytest_configure(config):
    """Keep the file order below under xdist (by default it sends the files with most tests first);
    compile the project's modules once for the processes the tests start."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    if not hasattr(config, "workerinput"):  # once per run: in the controller, not in each xdist worker
        compile_project_modules()


# What the tests' own Python processes import from the repository (db_create.py, flask db, run.py,
# gunicorn, the benchmark, the providers). The packages in .venv come compiled by pip.
PROJECT_SOURCES = ["app", "devproviders", "bench", "migrations", "tests", "config.py", "gunicorn.conf.py"]
NOT_PYTHON_SOURCES = re.compile(r"[/\\]node_modules[/\\]")  # the npm packages in tests/ and bench/


def compile_project_modules():
    """Write the project's bytecode caches (__pycache__, ignored by git), even under PYTHONDONTWRITEBYTECODE.

    With that variable set (as on this machine) no process writes them, so each Python process a
    test starts compiled the app's modules again: about 0.17 CPU-s of each db_create.py run. A
    process still reads caches that exist, and checks each against its source's modification time.
    """
    root = TESTS_DIR.parent
    for name in PROJECT_SOURCES:
        path = root / name
        try:
            if path.is_dir():
                compileall.compile_dir(path, quiet=2, rx=NOT_PYTHON_SOURCES)
            elif path.exists():
                compileall.compile_file(path, quiet=2)
        except OSError:  # a read-only checkout: the processes compile as before
            pass


def slowness_rank(item):
    """Where a test's file comes in SLOWEST_FILES_FIRST (files not listed come after, in order)."""
    name = Path(item.path).relative_to(TESTS_DIR).as_posix() if TESTS_DIR in Path(item.path).parents else ""
    return SLOWEST_FILES_FIRST.index(name) if name in SLOWEST_FILES_FIRST else len(SLOWEST_FILES_FIRST)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
        if BROWSER_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
    items.sort(key=slowness_rank)  # stable: tests keep their order within a file


def is_slow(node):
    return node.get_closest_marker("e2e") is not None or node.get_closest_marker("browser") is not None


@pytest.fixture(autouse=True)
def _slow_work_needs_a_marker(request, monkeypatch):
    """In a test marked neither e2e nor browser, starting a live server or a process fails the test."""
    if is_slow(request.node):
        return

    def refuse(what):
        def refused(*args, **kwargs):
            pytest.fail(f"this test {what}: mark it @pytest.mark.e2e (see tests/conftest.py)", pytrace=False)

        return refused

    monkeypatch.setattr(LiveServer, "start", refuse("starts a live server"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a process"))


class SharedTemplateCache(jinja2.BytecodeCache):
    """Compiled templates kept in memory for the whole run, shared by every app the tests create.

    Each test builds its own app, and each app's Jinja environment would compile every template it
    renders again (about a third of a client test's time). Jinja checks each entry against the
    template's source checksum, so an edited template is compiled afresh; environments with other
    syntax settings get entries of their own.
    """

    def __init__(self):
        self.compiled = {}

    @staticmethod
    def key(bucket):
        env = bucket.environment
        settings = (env.trim_blocks, env.lstrip_blocks, env.optimized, tuple(sorted(env.extensions)))
        return bucket.key, settings

    def load_bytecode(self, bucket):
        if self.key(bucket) in self.compiled:
            bucket.bytecode_from_string(self.compiled[self.key(bucket)])

    def dump_bytecode(self, bucket):
        self.compiled[self.key(bucket)] = bucket.bytecode_to_string()


@pytest.fixture(scope="session", autouse=True)
def _templates_compiled_once():
    """Give every Flask app made in this process the shared template cache."""
    cache = SharedTemplateCache()
    create_environment = Flask.create_jinja_environment

    def with_shared_cache(app):
        environment = create_environment(app)
        environment.bytecode_cache = cache
        return environment

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "create_jinja_environment", with_shared_cache)
        yield


def url_builder_key(rule, append_unknown):
    """What Werkzeug generates a rule's URL builder from, or None when a converter takes part.

    The builder's source comes from the rule's parsed parts, its defaults' names and append_unknown;
    it reaches the rule's converters only through its `self` argument (each app binds it to its own
    rule), except for a default given to a variable of the rule, converted once when the builder
    is made: such rules are compiled as usual.
    """
    defaults = rule.defaults or {}
    if any(dynamic and name in defaults for dynamic, name in rule._trace):
        return None
    return rule.rule, tuple(rule._trace), tuple(defaults), append_unknown


@pytest.fixture(scope="session", autouse=True)
def _url_builders_compiled_once():
    """Share Werkzeug's compiled URL builders between the apps this process makes.

    Each test builds its own app, and each app compiled a builder function for each of its URL
    rules (generated Python source, compiled): three quarters of create_app's 20 ms.
    """
    builders = {}
    compile_builder = Rule._compile_builder

    def compiled_once(rule, append_unknown=True):
        key = url_builder_key(rule, append_unknown)
        if key is None:
            return compile_builder(rule, append_unknown)
        if key not in builders:
            builders[key] = compile_builder(rule, append_unknown)
        return builders[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", compiled_once)
        yield


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """A database at the latest migration, made once per run: the PostgreSQL test database or SQLite.

    Under pytest-xdist (`-n 2`) each worker has its own: a SQLite file in its own temporary
    folder, or a PostgreSQL database named after the test database and the worker.
    """
    if not TEST_DATABASE_URL:
        yield migrated_sqlite(tmp_path_factory.mktemp("schema") / "migrated.db")
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        yield migrated_postgres(TEST_DATABASE_URL)
        return
    with worker_postgres(TEST_DATABASE_URL, worker) as url:
        database = migrated_postgres(url)
        yield database
        database.engine.dispose()


@pytest.fixture
def database_url(migrated_database, tmp_path):
    """The URL of an empty, fully migrated database for one test."""
    return migrated_database.fresh(tmp_path)


@pytest.fixture
def app(database_url):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    yield app
    with app.app_context():
        db.session.remove()
        dispose_engines()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """TEST_REDIS_URL, else a private redis-server started for this run; skips when neither exists."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    with redis_server_url(tmp_path_factory.mktemp("redis")) as url:
        if url is None:
            pytest.skip("needs Redis: set TEST_REDIS_URL or install redis-server")
        yield url


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def live_server(app):
    server = live_site(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_live_server(migrated_database, tmp_path_factory):
    """One live server for a whole test module, on a database emptied once when the module starts.

    For modules whose tests only read what a module fixture made (tests/browser/test_layout.py): the
    app, its server and that state are made once instead of for every test.
    """
    url = migrated_database.fresh(tmp_path_factory.mktemp("module-db"))
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    server = live_site(app).start()
    yield server
    server.stop()
    with app.app_context():
        db.session.remove()
        dispose_engines()


@pytest.fixture
def browser(live_server):
    """A person's browser talking to the live server."""
    return WebClient(live_server.url)


@pytest.fixture
def listener():
    """A plain HTTP server on 127.0.0.1 that answers whatever the test routes (tests/support/listener.py)."""
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def openid_provider():
    provider = TestOpenIDProvider().start()
    yield provider
    provider.stop()


class AuthActions:
    """Sign a test-client user in without the OpenID round trip (for non-sign-in tests)."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def login(self, nickname="tester"):
        import time

        from app.auth.devices import create_device_session
        from app.auth.flow import VerifiedSignIn, find_or_create_user

        with self.app.test_request_context():
            user = find_or_create_user(VerifiedSignIn("openid2", f"http://op.test/{nickname}", nickname))
            token = create_device_session(user, remember=False, method="OpenID (op.test)").session_token
            db.session.refresh(user)  # loaded again after the commit, usable once the context ends
        with self.client.session_transaction() as session:
            session["_user_id"] = token
            session["_fresh"] = True
            session["signed_in_at"] = int(time.time())
        return user


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)
