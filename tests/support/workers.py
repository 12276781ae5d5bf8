"""The app under gunicorn in a separate process, as in production, for multi-worker tests."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent.parent
LISTENING = re.compile(r"Listening at: (http://[\d.]+:\d+)")


class GunicornApp:
    """`gunicorn -c gunicorn.conf.py "app:create_app()"` on a free loopback port, output collected."""

    def __init__(self, env, workers=1, bind="127.0.0.1:0"):
        self.env = {**os.environ, "WEB_CONCURRENCY": str(workers), **env}
        self.workers = workers
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "-b",
            bind,
            "app:create_app()",
        ]
        self.lines = []
        self.url = None
        self.process = None

    def start(self, timeout=30):
        """Start and wait until every worker has booted and /healthz answers."""
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._collect, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gunicorn did not start:\n" + self.output)
            time.sleep(0.05)
        return self

    def _collect(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _ready(self):
        if self.url is None:
            found = LISTENING.search(self.output)
            self.url = found.group(1) if found else None
        booted = self.output.count("Booting worker with pid")
        if self.url is None or booted < self.workers:
            return False
        try:
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:  # refused, reset or slow (ReadTimeout) while booting: ask again
            return False

    @property
    def output(self):
        return "\n".join(self.lines)

    def wait(self, timeout=30):
        """Wait for the process to exit on its own; return its status."""
        return self.process.wait(timeout=timeout)

    def terminate(self):
        """Ask gunicorn to stop (gracefully: it lingers up to 2 s on kept-alive connections)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def stop(self):
        """Stop and wait for the exit (killed after 15 s)."""
        self.terminate()
        if self.process and self.process.poll() is None:
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_with_workers(self.process)


def kill_with_workers(master):
    """Kill a gunicorn master that did not stop, and its workers first.

    A master waits for its workers; one that hangs (gunicorn's gthread worker can deadlock when its
    quit signal arrives while it is handing a connection to its thread pool) keeps the master
    waiting, and killing only the master would leave that worker running, orphaned, for good.
    """
    for pid in children(master.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    master.kill()
    master.wait()


def children(pid):
    """The pids of a process's children (a gunicorn master's workers); none once it has gone."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def start_all(apps):
    """Start the apps side by side; a start that fails is raised here, in the test, not in a thread."""
    with ThreadPoolExecutor(len(apps)) as pool:
        starts = [pool.submit(app.start) for app in apps]
    failed = [future.exception() for future in starts if future.exception() is not None]
    if failed:
        stop_all(apps)
        raise RuntimeError("a worker did not start") from failed[0]
    return apps


def stop_all(apps):
    """Stop the apps together, so their graceful shutdowns overlap instead of adding up."""
    for app in apps:
        app.terminate()
    for app in apps:
        app.stop()
