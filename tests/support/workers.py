"""The app under gunicorn in a separate process, as in production, for multi-worker tests."""

import os
import re
import subprocess
import sys
import threading
import time
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

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
