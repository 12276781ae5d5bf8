"""The development server's console: one log format, full level names, colour only on a terminal,
and a plain message (with the --port hint) when the port is taken."""

import errno
import logging
import re
import socket
import sys
from typing import TextIO

from flask import Flask
from flask.logging import default_handler

CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONSOLE_TIME = "%H:%M:%S"
ESCAPE_CODES = re.compile(r"\x1b\[[0-9;]*m")


class ConsoleFormatter(logging.Formatter):
    """The one console format; terminal colour codes (Werkzeug adds them) only when writing to a terminal."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(CONSOLE_FORMAT, CONSOLE_TIME)
        self.colour = hasattr(stream, "isatty") and stream.isatty()

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if self.colour else ESCAPE_CODES.sub("", text)


class MigrationSteps(logging.Filter):
    """Of Alembic's start-up chatter keep only the migrations actually applied."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage().startswith("Running ")


def configure_console(app: Flask, stream: TextIO | None = None) -> None:
    """Send every log line (app, Werkzeug, Alembic) through one handler on stderr, in one format."""
    stream = stream or sys.stderr
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ConsoleFormatter(stream))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    app.logger.removeHandler(default_handler)  # else each app line would print twice
    logging.getLogger("alembic").setLevel(logging.INFO)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").addFilter(MigrationSteps())


def port_taken(host: str, port: int) -> bool:
    """Whether another program already listens on host:port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def port_taken_message(host: str, port: int) -> str:
    """What to print when the port is taken: what happened and the option that fixes it."""
    return (
        f"microblog: port {port} on {host} is already in use (another server, or Microblog already "
        f"running?). Start on another port with: python run.py --port {port + 1}"
    )
