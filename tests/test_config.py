"""Configuration: environments, environment overrides, secrets, and the entry scripts."""

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import config
from app import create_app
from config import ConfigError, load_config
from tests.support.python_run import python_lines

ROOT = Path(__file__).resolve().parent.parent


def script_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("MICROBLOG_CONFIG", "SECRET_KEY", "DATABASE_URL")}
    env.update(extra)
    return env


@pytest.mark.e2e
def test_production_refuses_to_start_without_secret_key():
    result = subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"],
        cwd=ROOT,
        env=script_env(MICROBLOG_CONFIG="production"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SECRET_KEY" in lines[0], result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("key", ["x", "k" * 31])
def test_production_refuses_a_short_secret_key(key):
    result = subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"],
        cwd=ROOT,
        env=script_env(MICROBLOG_CONFIG="production", SECRET_KEY=key),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert f"SECRET_KEY is too short ({len(key)} characters)" in line and "at least 32" in line
    # The message's own recipe makes a key that production accepts.
    recipe = line.split("Make one with: ")[1]
    made = subprocess.run(recipe, shell=True, capture_output=True, text=True, check=True).stdout.strip()
    assert load_config("production", environ={"SECRET_KEY": made})["SECRET_KEY"] == made


def test_a_32_character_secret_key_is_enough():
    assert load_config("production", environ={"SECRET_KEY": "k" * 32})["SECRET_KEY"] == "k" * 32


def test_production_defaults_are_safe():
    app = create_app("production", {"SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert not app.debug
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert not app.config["DEV_OPENID_PROVIDER"] and not app.config["OPENID_ALLOW_PRIVATE_HOSTS"]
    client = app.test_client()
    assert client.get("/dev-openid/alice").status_code == 404
    assert "Local test provider" not in client.get("/login").get_data(as_text=True)


def test_development_generates_a_secret_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "TMP_DIR", tmp_path)
    first = load_config("development", environ={})["SECRET_KEY"]
    second = load_config("development", environ={})["SECRET_KEY"]
    assert first == second and len(first) == 64
    key_file = tmp_path / "dev-secret-key"
    assert key_file.read_text() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    monkeypatch.setattr(config, "TMP_DIR", tmp_path / "other")
    assert load_config("development", environ={})["SECRET_KEY"] != first


def test_settings_come_from_the_environment():
    settings = load_config(
        environ={
            "MICROBLOG_CONFIG": "testing",
            "POSTS_PER_PAGE": "5",
            "OPENID_ALLOW_PRIVATE_HOSTS": "false",
            "DATABASE_URL": "sqlite:////tmp/elsewhere.db",
            "OUTBOUND_TIMEOUT": "2.5",
            "SECRET_KEY": "from-env",
        }
    )
    assert settings["MICROBLOG_CONFIG"] == "testing"
    assert settings["POSTS_PER_PAGE"] == 5
    assert settings["OPENID_ALLOW_PRIVATE_HOSTS"] is False
    assert settings["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/elsewhere.db"
    assert settings["OUTBOUND_TIMEOUT"] == 2.5
    assert settings["SECRET_KEY"] == "from-env"


def test_default_database_is_sqlite_under_tmp():
    settings = load_config("development", environ={})
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{ROOT / 'tmp' / 'microblog.db'}"


def test_unknown_config_name_is_refused():
    with pytest.raises(ConfigError, match="MICROBLOG_CONFIG"):
        load_config(environ={"MICROBLOG_CONFIG": "staging"})


@pytest.mark.e2e
def test_db_create_is_safe_to_run_again(tmp_path):
    db_file = tmp_path / "mb.db"
    env = script_env(MICROBLOG_CONFIG="development", DATABASE_URL=f"sqlite:///{db_file}", SECRET_KEY="k" * 40)

    def run():
        return subprocess.run(
            [sys.executable, "db_create.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )

    assert run().returncode == 0
    with sqlite3.connect(db_file) as conn:
        conn.execute(
            "INSERT INTO user (nickname, session_token, created_at) VALUES ('keep', 'tok', '2026-01-01')"
        )
    second = run()
    assert second.returncode == 0, second.stderr
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT nickname FROM user").fetchall() == [("keep",)]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.e2e
def test_run_py_serves_the_app_and_creates_the_database(tmp_path):
    db_file = tmp_path / "run.db"
    port = free_port()
    env = script_env(DATABASE_URL=f"sqlite:///{db_file}", SECRET_KEY="k" * 40, MICROBLOG_NO_RELOAD="1")
    proc = subprocess.Popen(
        [sys.executable, "run.py", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "run.py did not start"
                time.sleep(0.2)
        assert page.status_code == 200 and "Local test provider" in page.text
        assert db_file.exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_development_server_log_hides_query_strings():
    import logging

    from run import HideQueryStrings

    line = "GET /login/openid/complete?rt=abc&openid.sig=secret HTTP/1.1"
    record = logging.LogRecord("werkzeug", logging.INFO, "", 0, '"%s" %s %s', (line, "302", "-"), None)
    assert HideQueryStrings().filter(record)
    assert record.getMessage() == '"GET /login/openid/complete?… HTTP/1.1" 302 -'


def test_production_refuses_the_local_test_providers():
    with pytest.raises(ConfigError, match="DEV_OPENID_PROVIDER"):
        load_config("production", environ={"SECRET_KEY": "s" * 40, "DEV_OPENID_PROVIDER": "1"})


def test_numeric_settings_without_a_default_are_parsed():
    settings = load_config("testing", environ={"WTF_CSRF_TIME_LIMIT": "3600"})
    assert settings["WTF_CSRF_TIME_LIMIT"] == 3600


def test_openid_connect_providers_are_never_taken_whole_from_the_environment():
    """Only OIDC_<NAME>_* settings enable a provider, and only after their checks."""
    raw = '{"evil": {"client_id": "a", "client_secret": "b", "issuer": "http://10.0.0.1", "label": "x"}}'
    settings = load_config("production", environ={"SECRET_KEY": "s" * 40, "OIDC_PROVIDERS": raw})
    assert settings["OIDC_PROVIDERS"] == {}


@pytest.mark.e2e
def test_production_loads_no_development_provider_module():
    code = (
        "import sys\n"
        "from app import create_app\n"
        "create_app('production', {'SECRET_KEY': 'x' * 40, 'SQLALCHEMY_DATABASE_URI': 'sqlite://'})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'devproviders'))\n"
    )
    lines = python_lines(code)
    assert lines[-1] == "[]"


def test_development_points_the_site_at_the_local_providers_it_serves():
    settings = load_config("development", {"LOCAL_PROVIDERS_URL": "http://127.0.0.1:5055"}, environ={})
    assert settings["OPENID_PROVIDERS"][-1] == {
        "name": "Local test provider",
        "url": "http://127.0.0.1:5055/dev-openid/<username>",
        "icon": "L",
    }
    assert settings["OIDC_PROVIDERS"]["local"]["issuer"] == "http://127.0.0.1:5055/dev-oidc"
    assert settings["OIDC_PROVIDERS"]["local"]["icon"] == "C"  # not a second "L" (issue 12)


def test_an_sqlite_file_commits_through_a_write_ahead_log(tmp_path):
    """WAL: one fsync a commit (the rollback journal syncs several files); durability stays FULL."""
    from sqlalchemy import text

    from app.extensions import db

    db_file = tmp_path / "wal.db"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}"})
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        db.session.execute(text("CREATE TABLE t (v INTEGER)"))
        db.session.execute(text("INSERT INTO t VALUES (1)"))
        db.session.commit()
        with sqlite3.connect(db_file) as other:  # another process's connection sees the commit
            assert other.execute("SELECT v FROM t").fetchall() == [(1,)]
        db.engine.dispose()
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # kept in the file


def test_an_in_memory_sqlite_database_is_left_as_it_is():
    from sqlalchemy import text

    from app.extensions import db

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "memory"
