"""A private PostgreSQL server that checks passwords (scram-sha-256), on a free loopback port.

For tests that need a failure the shared server cannot show (it trusts loopback connections).
Started from Debian's PostgreSQL binaries, as the `postgres` user when the tests run as root;
stopped and removed afterwards.
"""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tests.support.redis import free_port

PASSWORD = "the-right-password"  # noqa: S105 - a throwaway test server's


def postgres_bin():
    """Debian's PostgreSQL server binaries (the newest installed), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def as_postgres():
    """Popen arguments that run the program as the postgres user when we are root (initdb and
    postgres refuse to run as root); the process is then the server itself, so signals reach it."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


@contextmanager
def private_postgres():
    """Yield (host, port) of a new server whose superuser `postgres` has PASSWORD; None if unavailable."""
    binaries = postgres_bin()
    if binaries is None:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="microblog-pg-"))
    try:
        (directory / "pw").write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
            shutil.chown(directory / "pw", "postgres")
        init = [str(binaries / "initdb"), "-D", str(directory / "data"), "-U", "postgres", "--no-sync"]
        init += ["-A", "scram-sha-256", "--pwfile", str(directory / "pw")]
        subprocess.run(init, check=True, capture_output=True, timeout=120, **as_postgres())
        port = free_port()
        server = [
            str(binaries / "postgres"),
            "-D",
            str(directory / "data"),
            "-p",
            str(port),
            "-k",
            str(directory),
        ]
        server += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=16MB"]
        process = subprocess.Popen(
            server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **as_postgres()
        )
        try:
            wait_ready(binaries, port, process)
            yield "127.0.0.1", port
        finally:
            process.send_signal(signal.SIGINT)  # fast shutdown
            process.wait(timeout=30)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def wait_ready(binaries, port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        ready = subprocess.run(
            [str(binaries / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)], check=False, timeout=10
        )
        if ready.returncode == 0:
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the private PostgreSQL server did not start")
        time.sleep(0.1)
