"""The development server's console: one log format with full level names, no escape codes when the
output is not a terminal, and a clear message with the --port hint when the port is taken."""

import io
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from app.ops.console import ConsoleFormatter

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_py_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MICROBLOG_CONFIG", "SECRET_KEY", "DATABASE_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'dev.db'}", SECRET_KEY="k" * 40, MICROBLOG_NO_RELOAD="1")
    return env


def serve_and_collect(tmp_path, paths):
    """Start run.py with its output piped (not a terminal), request paths, stop it; its output."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "run.py", "--port", str(port)],
        cwd=ROOT,
        env=run_py_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "run.py did not start"
                time.sleep(0.1)
        for path in paths:
            requests.get(f"http://127.0.0.1:{port}{path}", timeout=10)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=15)
    return output


def test_development_console_has_one_format_and_no_escape_codes(tmp_path):
    output = serve_and_collect(tmp_path, ["/login", "/no-such-page"])
    assert "\x1b" not in output
    log_lines = [line for line in output.splitlines() if not line.startswith(" * ")]
    assert log_lines and all(LINE.match(line) for line in log_lines), log_lines
    assert "WARNI " not in output and "[alembic" not in output
    # Each request is logged once, and the database's first migrations are listed, nothing else of Alembic.
    assert sum('"GET /login HTTP/1.1" 200' in line for line in log_lines) == 1
    assert sum('"GET /no-such-page HTTP/1.1" 404' in line for line in log_lines) == 1
    alembic = [line for line in log_lines if " alembic" in line]
    assert alembic and all("Running upgrade" in line for line in alembic)


def test_a_taken_port_is_one_clear_line_with_the_port_hint(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "run.py", "--port", str(port)],
            cwd=ROOT,
            env=run_py_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""  # no "on http://..." banner for a server that never started
    [line] = result.stderr.splitlines()
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert f"python run.py --port {port + 1}" in line


def test_colour_is_kept_on_a_terminal_only():
    record = logging.LogRecord("werkzeug", logging.INFO, "", 0, "\x1b[33mGET /x\x1b[0m", None, None)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert "\x1b[33m" in ConsoleFormatter(Terminal()).format(record)
    plain = ConsoleFormatter(io.StringIO()).format(record)
    assert "\x1b" not in plain and plain.endswith("INFO werkzeug: GET /x")


def test_readme_mentions_the_port_option():
    readme = (ROOT / "README.md").read_text()
    assert "run.py --port 5001" in readme
