"""The README's production section, followed step by step in a fresh shell against the local
PostgreSQL (a fresh database and user), and each failure along the way as one clear line.

The commands are read from the README itself. The only changes, made by exact replacement (each must
apply, so the README cannot drift away from this test):
- `sudo -u postgres psql` becomes `psql -h 127.0.0.1 -U postgres` (CI has no sudo; the local
  server trusts loopback connections);
- the names: a fresh database and user for this run, the repository's real path for /srv/microblog,
  the settings file in the test's directory, Redis at the test's URL, a free port for 8000;
- `python3 -m venv .venv` and `pip install -r requirements.txt` are not run again: `.venv/bin/`
  becomes the test suite's own virtual environment, made by `bash scripts/test.sh` in exactly that way.
"""

import json
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from config import normalise_database_url
from tests.support.private_postgres import PASSWORD, private_postgres
from tests.support.redis import free_port
from tests.support.scratch_databases import POSTGRES_SERVER

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"```(sh|ini)\n(.*?)```", re.S)


def production_section():
    start = README.index("## Production\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def blocks():
    """The section's code blocks, in order: (language, text)."""
    return FENCE.findall(production_section())


def replace(text, old, new):
    assert old in text, f"the README's production section no longer contains {old!r}"
    return text.replace(old, new)


def fresh_shell_env(home):
    """What a new login shell has: no virtualenv, no settings, no test variables.

    WEB_CONCURRENCY=2 only keeps the test light on a shared machine (the default is 2 per core + 1).
    """
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "WEB_CONCURRENCY": "2",
    }


class Walkthrough:
    """The README's commands with this run's names."""

    def __init__(self, tmp_path, redis_url):
        self.tmp = tmp_path
        tag = uuid.uuid4().hex[:8]
        server = make_url(normalise_database_url(POSTGRES_SERVER))
        self.database = f"{server.database}_readme_{tag}"
        self.role = f"{server.database}_readme_{tag}"
        self.server = server
        self.port = free_port()
        self.redis_url = redis_url
        self.env_file = tmp_path / "production.env"

    def adapt(self, text):
        text = text.replace("sudo -u postgres psql", "psql -h 127.0.0.1 -U postgres -d postgres")
        text = text.replace("ROLE microblog LOGIN", f"ROLE {self.role} LOGIN")
        text = text.replace(
            "DATABASE microblog OWNER microblog", f"DATABASE {self.database} OWNER {self.role}"
        )
        text = text.replace(
            "postgresql://microblog:change-this-password@127.0.0.1/microblog",
            f"postgresql://{self.role}:change-this-password@127.0.0.1/{self.database}",
        )
        text = text.replace("python3 -m venv .venv\n", "").replace(
            ".venv/bin/pip install -r requirements.txt\n", ""
        )
        text = text.replace("/srv/microblog/.venv/bin/", "@BIN@").replace(".venv/bin/", "@BIN@")
        text = text.replace("@BIN@", f"{VENV_BIN}/")
        for name in ("/srv/microblog/production.env", "./production.env", "production.env"):
            text = text.replace(name, "@SETTINGS@")
        text = text.replace("@SETTINGS@", str(self.env_file))
        text = text.replace("/srv/microblog", str(ROOT))
        text = text.replace("redis://127.0.0.1:6379/0", self.redis_url)
        return text.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")

    def drop(self):
        admin = create_engine(self.server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{self.role}"'))
        admin.dispose()


@pytest.fixture
def walkthrough(tmp_path, redis_url):
    admin = create_engine(make_url(normalise_database_url(POSTGRES_SERVER)), poolclass=NullPool)
    try:
        with admin.connect():
            pass
    except OperationalError:
        pytest.skip("needs the local PostgreSQL (127.0.0.1:5432 or TEST_DATABASE_URL)")
    finally:
        admin.dispose()
    steps = Walkthrough(tmp_path, redis_url)
    yield steps
    steps.drop()


def wait_for_health(url, process, timeout=60):
    """The /healthz answer once the server answers (None if the process ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return requests.get(url + "/healthz", timeout=10)
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    return None


def stop(process):
    process.terminate()
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=10)
    return output


def test_the_sections_steps_are_what_this_test_runs():
    languages = [language for language, _ in blocks()]
    assert languages == ["sh", "sh", "sh", "sh", "ini", "sh"]
    _, step4 = blocks()[3]
    assert step4.splitlines() == [
        ".venv/bin/flask db upgrade",
        '.venv/bin/gunicorn -c gunicorn.conf.py -b 127.0.0.1:8000 "app:create_app()"',
    ]


def test_the_production_section_works_pasted_into_a_fresh_shell(walkthrough, tmp_path):
    (db_step, code_step, settings_step, run_step, unit, moderation) = [body for _, body in blocks()]
    for old in (
        "sudo -u postgres psql",
        "cd /srv/microblog",
        "cat > production.env",
        "redis://127.0.0.1:6379/0",
    ):
        assert old in db_step + code_step + settings_step
    upgrade, serve = run_step.splitlines()
    script = "set -euo pipefail\n" + walkthrough.adapt(db_step + code_step + settings_step + upgrade + "\n")
    script += "exec " + walkthrough.adapt(serve) + "\n"
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=fresh_shell_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = wait_for_health(f"http://127.0.0.1:{walkthrough.port}", process)
    finally:
        output = stop(process)
    assert health is not None, output
    assert health.status_code == 200 and health.json() == {"database": "ok", "status": "ok"}, output
    assert "Running upgrade  -> 0001" in output  # the fresh database was migrated by `flask db upgrade`
    assert "Traceback" not in output and "setup plugin" not in output
    assert "RATELIMIT_STORAGE_URI is memory://" not in output  # Redis from the settings file is used
    # The settings file: private, a generated key long enough for production.
    assert walkthrough.env_file.stat().st_mode & 0o077 == 0
    settings = dict(line.split("=", 1) for line in walkthrough.env_file.read_text().splitlines())
    assert len(settings["SECRET_KEY"]) == 64

    # The systemd unit runs the same way: its environment file, directory, upgrade and server.
    service = parse_unit(walkthrough.adapt(unit))["Service"]
    walkthrough.port = free_port()
    service = parse_unit(walkthrough.adapt(unit))["Service"]
    env = {**fresh_shell_env(tmp_path), **settings}
    pre = subprocess.run(
        shlex.split(service["ExecStartPre"]),
        cwd=service["WorkingDirectory"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert Path(service["EnvironmentFile"]) == walkthrough.env_file
    assert pre.returncode == 0, pre.stdout + pre.stderr  # upgrading again is harmless
    main = subprocess.Popen(
        shlex.split(service["ExecStart"]),
        cwd=service["WorkingDirectory"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = wait_for_health(f"http://127.0.0.1:{walkthrough.port}", main)
    finally:
        output = stop(main)
    assert health is not None and health.status_code == 200, output

    # The moderation commands run with the same settings.
    listing = subprocess.run(
        shlex.split(walkthrough.adapt(moderation.splitlines()[0].split("#")[0])),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[-1] == "0 users, 0 suspended."


def parse_unit(text):
    """A systemd unit's sections as dicts (one value per key, as this unit has)."""
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line and current is not None:
            key, value = line.split("=", 1)
            current[key] = value
    return sections


def one_line_failure(args, env, cwd=ROOT):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result


def production_env(home, **settings):
    return {
        **fresh_shell_env(home),
        "MICROBLOG_CONFIG": "production",
        "SECRET_KEY": "s" * 64,
        "RATELIMIT_STORAGE_URI": "memory://",
        **settings,
    }


def test_a_missing_database_is_one_line_saying_to_create_it(walkthrough, tmp_path):
    url = f"postgresql://postgres@127.0.0.1/{walkthrough.database}"  # not created
    result = one_line_failure(
        [str(VENV_BIN / "flask"), "db", "upgrade"], production_env(tmp_path, DATABASE_URL=url)
    )
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: cannot use the database postgresql+psycopg://postgres@127.0.0.1/")
    assert f'database "{walkthrough.database}" does not exist' in line and "create it first" in line


def test_an_unreachable_database_is_one_line(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=f"postgresql://someone:secret-pw@127.0.0.1:{free_port()}/x")
    result = one_line_failure([str(VENV_BIN / "flask"), "db", "upgrade"], env)
    [line] = result.stderr.strip().splitlines()
    assert "Connection refused" in line and "is PostgreSQL running" in line
    assert "secret-pw" not in line and "someone:***@" in line


def test_unreachable_redis_stops_gunicorn_with_one_line(walkthrough, tmp_path):
    env = production_env(
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'site.db'}",
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0",
    )
    result = one_line_failure(
        [
            str(VENV_BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "-b",
            f"127.0.0.1:{free_port()}",
            "app:create_app()",
        ],
        env,
    )
    errors = [json.loads(line) for line in result.stdout.splitlines() if '"level": "ERROR"' in line]
    assert [e["message"].split(":")[0] for e in errors] == ["microblog"]
    assert "Redis does not answer there" in errors[0]["message"]


def test_db_create_reports_a_missing_database_in_one_line(walkthrough, tmp_path):
    env = production_env(tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1/{walkthrough.database}")
    result = one_line_failure([sys.executable, "db_create.py"], env)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("microblog: cannot use the database") and "does not exist" in line


def test_a_wrong_password_is_one_line_saying_what_to_check(tmp_path):
    with private_postgres() as server:
        if server is None:
            pytest.skip("needs Debian's PostgreSQL server binaries")
        host, port = server
        right = f"postgresql://postgres:{PASSWORD}@{host}:{port}/postgres"
        env = production_env(tmp_path, DATABASE_URL=right)
        assert (
            subprocess.run(
                [str(VENV_BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env, timeout=120
            ).returncode
            == 0
        )
        env["DATABASE_URL"] = f"postgresql://postgres:not-the-password@{host}:{port}/postgres"
        result = one_line_failure([str(VENV_BIN / "flask"), "db", "upgrade"], env)
    [line] = result.stderr.strip().splitlines()
    assert 'password authentication failed for user "postgres"' in line
    assert "check the user and password in DATABASE_URL" in line
    assert "not-the-password" not in line and "postgres:***@" in line
