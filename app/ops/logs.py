"""Structured logging: one JSON object per line on stdout, and a short line per request.

Request lines carry the method, the path without its query string, the status,
the time taken and the client address. Never the query string (an OpenID answer
arrives there), form data, cookies or other headers.
"""

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from flask import Flask, Response, g, request
from flask.logging import default_handler

REQUEST_LOGGER = "microblog.request"
REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "remote_addr")
PATH_MAX = 200
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: time, level, logger, message and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        entry.update(
            {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class StdoutHandler(logging.StreamHandler[TextIO]):
    """A stream handler that always writes to the current sys.stdout."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(app: Flask) -> None:
    """Set the log level; with LOG_FORMAT=json, send every log line to stdout as JSON."""
    level = getattr(logging, str(app.config["LOG_LEVEL"]).upper(), logging.INFO)
    root = logging.getLogger()
    if app.config["LOG_FORMAT"] == "json":
        for handler in [h for h in root.handlers if isinstance(h, StdoutHandler)]:
            root.removeHandler(handler)
        handler = StdoutHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(level)
        app.logger.removeHandler(default_handler)
    app.logger.setLevel(level)
    logging.getLogger("openid").setLevel(max(level, logging.WARNING))
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # eight lines per `flask db`
    if app.config["LOG_REQUESTS"]:
        register_request_log(app)


def register_request_log(app: Flask) -> None:
    """Log one line per request, timed from before every other hook."""
    logger = logging.getLogger(REQUEST_LOGGER)

    def start_timer() -> None:
        g.request_started = time.perf_counter()

    app.before_request_funcs.setdefault(None, []).insert(0, start_timer)

    @app.after_request
    def log_request(response: Response) -> Response:
        started = g.get("request_started", time.perf_counter())
        fields = {
            "method": request.method,
            "path": request.path[:PATH_MAX],
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "remote_addr": request.remote_addr,
        }
        logger.info("%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields)
        return response
