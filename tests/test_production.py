"""Production settings: secrets required, psycopg 3 URLs, ProxyFix only when told, JSON logs without
secrets, /healthz, a plain 503 page when the database is down, and `flask openid-cleanup`."""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from app import create_app
from app.extensions import db
from app.models import OpenIDAssociation, OpenIDNonce
from app.ops.logs import PATH_MAX, StdoutHandler
from config import load_config
from tests.support.web import csrf_token

ROOT = Path(__file__).resolve().parent.parent
SECRET = "production-test-secret-" + "x" * 40
UNREACHABLE_DATABASES = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
    "sqlite": "sqlite:////nonexistent-directory/microblog.db",
}


@pytest.fixture
def make_production_app(database_url):
    """Build production apps (JSON logs to the captured stdout); undo their root log handler afterwards."""

    def make(**overrides):
        settings = {"SECRET_KEY": SECRET, "SQLALCHEMY_DATABASE_URI": database_url}
        settings["OPENID_ALLOW_PRIVATE_HOSTS"] = True  # the test provider is on loopback
        return create_app("production", {**settings, **overrides})

    yield make
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StdoutHandler)]:
        root.removeHandler(handler)


@pytest.fixture
def production_app(make_production_app):
    return make_production_app()


class HttpsClient(FlaskClient):
    """A test client on https://localhost, so the Secure __Host- cookies are sent back."""

    def open(self, *args, **kwargs):
        if not (args and isinstance(args[0], str) and args[0].startswith("http")):
            kwargs.setdefault("base_url", "https://localhost")
        return super().open(*args, **kwargs)

    def session_transaction(self, *args, **kwargs):
        kwargs.setdefault("base_url", "https://localhost")
        return super().session_transaction(*args, **kwargs)


def https_client(app):
    return HttpsClient(app, app.response_class, use_cookies=True)


def log_lines(captured):
    """Every stdout line must be one JSON object; return them parsed."""
    lines = [line for line in captured.out.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def request_lines(entries):
    return [e for e in entries if e["logger"] == "microblog.request"]


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.e2e
def test_production_refuses_to_start_without_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["MICROBLOG_CONFIG"] = "production"
    result = subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["postgres://u@db.example/site", "postgresql://u@db.example/site"])
def test_database_url_selects_psycopg_3(url):
    settings = load_config("production", environ={"SECRET_KEY": SECRET, "DATABASE_URL": url})
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/site"
    options = settings["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["hide_parameters"], options["pool_timeout"]) == (True, 3)
    assert settings["DATABASE_PING_AFTER_IDLE"] == 1.0  # idle pooled connections checked before use
    assert options["connect_args"] == {
        "connect_timeout": 3,
        "options": "-c statement_timeout=5000",
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 7000,
    }


def test_sqlite_stays_the_embedded_default():
    settings = load_config("production", environ={"SECRET_KEY": SECRET})
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert settings["SQLALCHEMY_DATABASE_URI"].endswith("/tmp/microblog.db")


def test_proxy_settings_come_from_the_environment():
    environ = {"SECRET_KEY": SECRET, "PROXY_FIX_X_FOR": "1", "PROXY_FIX_X_PROTO": "1"}
    settings = load_config("production", environ=environ)
    trusted = [settings[f"PROXY_FIX_X_{name}"] for name in ("FOR", "PROTO", "HOST", "PORT", "PREFIX")]
    assert trusted == [1, 1, 0, 0, 0]


# --- ProxyFix ---------------------------------------------------------------------------------


def add_echo_route(app):
    @app.get("/_echo-client")
    def echo_client():
        from flask import request

        return {"remote_addr": request.remote_addr, "scheme": request.scheme, "host": request.host}


FORWARDED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "blog.example",
}


def test_forwarded_headers_are_ignored_unless_proxies_are_configured(make_production_app):
    app = make_production_app()
    add_echo_route(app)
    seen = app.test_client().get("/_echo-client", headers=FORWARDED).get_json()
    assert seen == {"remote_addr": "127.0.0.1", "scheme": "http", "host": "localhost"}


def test_proxy_fix_trusts_exactly_the_configured_proxies(make_production_app):
    app = make_production_app(PROXY_FIX_X_FOR=1, PROXY_FIX_X_PROTO=1, PROXY_FIX_X_HOST=1)
    add_echo_route(app)
    client = app.test_client()
    assert client.get("/_echo-client", headers=FORWARDED).get_json() == {
        "remote_addr": "203.0.113.7",
        "scheme": "https",
        "host": "blog.example",
    }
    # A client-supplied extra hop in front of the one trusted proxy is not believed.
    spoofed = client.get("/_echo-client", headers={**FORWARDED, "X-Forwarded-For": "6.6.6.6, 203.0.113.7"})
    assert spoofed.get_json()["remote_addr"] == "203.0.113.7"


# --- logs ---------------------------------------------------------------------------------------


def test_request_lines_are_json_without_query_strings(production_app, capsys):
    capsys.readouterr()
    https_client(production_app).get("/login?next=/secret-place&token=abc123")
    entries = log_lines(capsys.readouterr())
    [line] = request_lines(entries)
    assert line["method"] == "GET" and line["path"] == "/login" and line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["remote_addr"] == "127.0.0.1"
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")
    assert "abc123" not in json.dumps(entries) and "secret-place" not in json.dumps(entries)


def test_request_lines_cut_long_paths(production_app, capsys):
    capsys.readouterr()
    https_client(production_app).get("/" + "a" * 500)
    [line] = request_lines(log_lines(capsys.readouterr()))
    assert line["status"] == 404
    assert line["path"] == ("/" + "a" * 500)[:PATH_MAX] and len(line["path"]) == PATH_MAX


def rate_limit_warnings(caplog):
    return [r for r in caplog.records if "RATELIMIT_STORAGE_URI is memory://" in r.getMessage()]


def test_production_warns_when_rate_limits_are_counted_per_worker(make_production_app, caplog, monkeypatch):
    monkeypatch.delenv("RATELIMIT_STORAGE_URI", raising=False)  # the default: memory://
    caplog.set_level(logging.WARNING)
    make_production_app()
    [warning] = rate_limit_warnings(caplog)
    assert warning.levelno == logging.WARNING


def test_no_rate_limit_warning_with_shared_storage(make_production_app, caplog):
    caplog.set_level(logging.WARNING)
    # Nothing listens on port 1: building the app must not need Redis to be up.
    make_production_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    assert rate_limit_warnings(caplog) == []


def sign_in_through_provider(app, provider, name):
    """A full OpenID 2.0 sign-in on the production app via the separate provider; returns the callback URL."""
    provider.behaviour.profiles[name] = {"nickname": name, "email": f"{name}@example.test"}
    client = https_client(app)
    form = client.get("/login")
    data = {"csrf_token": csrf_token(form.get_data(as_text=True)), "openid": provider.identity(name)}
    start = client.post("/login", data=data, headers={"Referer": "https://localhost/login"})
    assert start.status_code == 302, start.get_data(as_text=True)
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = answer.headers["Location"]
    assert callback.startswith("https://localhost/login/openid/complete?")
    finished = client.get(callback)
    assert finished.status_code == 302
    home = client.get("/")
    assert f"Hi, {name}!" in home.get_data(as_text=True)
    return client, callback


def test_sign_in_logs_no_openid_answer_no_cookie_and_no_secret(production_app, openid_provider, capsys):
    capsys.readouterr()
    client, callback = sign_in_through_provider(production_app, openid_provider, "carol")
    captured = capsys.readouterr()
    entries = log_lines(captured)  # also asserts that every line is JSON
    paths = [(e["method"], e["path"], e["status"]) for e in request_lines(entries)]
    assert paths == [
        ("GET", "/login", 200),
        ("POST", "/login", 302),
        ("GET", "/login/openid/complete", 302),
        ("GET", "/", 200),
    ]
    # The separate test provider logs its own requests (werkzeug); everything else is the app's.
    text = json.dumps([e for e in entries if e["logger"] != "werkzeug"])
    session_cookie = client.get_cookie("__Host-session").value
    signature = callback.split("openid.sig=")[1].split("&")[0]
    for secret in (SECRET, session_cookie, signature, "openid.sig", "openid.assoc_handle", "rt="):
        assert secret not in text


# --- /healthz and database outages -------------------------------------------------------------


def test_healthz_reports_a_working_database(production_app):
    response = production_app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("kind", sorted(UNREACHABLE_DATABASES))
def test_healthz_reports_an_unreachable_database(make_production_app, kind, capsys):
    app = make_production_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_DATABASES[kind])
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unavailable"}
    warnings = [e for e in log_lines(capsys.readouterr()) if e["level"] == "WARNING"]
    assert any(e["message"] == "health check: database unavailable (OperationalError)" for e in warnings)


def signed_in_client(app, token="some-session-token"):
    client = https_client(app)
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True
        session["signed_in_at"] = int(time.time())
    return client


@pytest.mark.parametrize("kind", sorted(UNREACHABLE_DATABASES))
def test_database_outage_gives_a_plain_503_page(make_production_app, kind, capsys):
    app = make_production_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_DATABASES[kind])
    response = signed_in_client(app, "token-that-must-not-be-logged").get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "Temporarily unavailable" in page and "cannot reach its database" in page
    for leak in ("Traceback", "OperationalError", "sqlalchemy", "psycopg", "SELECT"):
        assert leak not in page
    captured = capsys.readouterr()
    entries = log_lines(captured)
    assert any(e["message"].startswith("database unavailable:") for e in entries)
    assert request_lines(entries)[-1]["status"] == 503
    assert "token-that-must-not-be-logged" not in captured.out + captured.err


def test_database_lost_in_the_middle_of_a_signed_in_page(app, client, auth):
    """The user was loaded, then the database went away: still the 503 page, rendered as a visitor."""
    auth.login("reader")
    with app.app_context():
        engine = db.engine
    dbapi_error = engine.dialect.loaded_dbapi.OperationalError

    lost = []

    def connection_lost(conn, cursor, statement, *args):
        if lost or "FROM post" in statement:  # from the posts query on, nothing gets through
            lost.append(statement)
            raise dbapi_error("server closed the connection unexpectedly")

    event.listen(engine, "before_cursor_execute", connection_lost)
    try:
        response = client.get("/")
    finally:
        event.remove(engine, "before_cursor_execute", connection_lost)
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Temporarily unavailable" in page and "Hi, reader" not in page
    assert "Traceback" not in page and "closed the connection" not in page
    assert client.get("/").status_code == 200  # and the next request works again


def test_pages_that_need_no_database_still_work_during_an_outage(make_production_app):
    app = make_production_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_DATABASES["sqlite"])
    assert https_client(app).get("/login").status_code == 200


def test_a_database_outage_is_a_503_in_every_config():
    broken = create_app("testing", {"SQLALCHEMY_DATABASE_URI": UNREACHABLE_DATABASES["sqlite"]})
    response = signed_in_client(broken).get("/")
    assert response.status_code == 503
    assert "Temporarily unavailable" in response.get_data(as_text=True)


# --- flask openid-cleanup --------------------------------------------------------------------------


def add_openid_state(app):
    """Two expired and one live nonce and association each."""
    now = int(time.time())
    with app.app_context():
        for age, name in ((3600 * 24, "old"), (3600 * 6, "older"), (0, "live")):
            db.session.add(OpenIDNonce(server_url="http://op.test/", timestamp=now - age, salt=name))
            db.session.add(
                OpenIDAssociation(
                    server_url="http://op.test/",
                    handle=name,
                    secret=b"s" * 32,
                    issued=now - age - 60,
                    lifetime=60 if age else 3600,
                    assoc_type="HMAC-SHA256",
                    expires=now - age if age else now + 3600,
                )
            )
        db.session.commit()


def remaining_openid_state(app):
    with app.app_context():
        nonces = db.session.scalars(select(OpenIDNonce.salt)).all()
        associations = db.session.scalars(select(OpenIDAssociation.handle)).all()
    return nonces, associations


def test_openid_cleanup_removes_only_expired_state_and_can_run_again(app, runner):
    add_openid_state(app)
    first = runner.invoke(args=["openid-cleanup"])
    assert first.exit_code == 0
    assert "removed 2 expired nonces and 2 expired associations" in first.output
    assert remaining_openid_state(app) == (["live"], ["live"])
    again = runner.invoke(args=["openid-cleanup"])
    assert again.exit_code == 0
    assert "removed 0 expired nonces and 0 expired associations" in again.output
    assert remaining_openid_state(app) == (["live"], ["live"])


def flask_command(args, database_url):
    env = {**os.environ, "MICROBLOG_CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": database_url}
    env.pop("FLASK_APP", None)
    flask = str(Path(sys.executable).with_name("flask"))
    command = [flask, *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.e2e
def test_openid_cleanup_works_as_a_cron_command(app):
    add_openid_state(app)
    result = flask_command(["openid-cleanup"], app.config["SQLALCHEMY_DATABASE_URI"])
    assert result.returncode == 0, result.stderr
    assert "removed 2 expired nonces and 2 expired associations" in result.stdout
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OpenIDNonce)) == 1


@pytest.mark.e2e
def test_openid_cleanup_fails_clearly_when_the_database_is_down():
    result = flask_command(["openid-cleanup"], UNREACHABLE_DATABASES["postgresql"])
    assert result.returncode == 1
    assert "the database is not reachable; nothing was deleted." in result.stderr
    assert "Traceback" not in result.stderr
