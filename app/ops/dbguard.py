"""A client-side deadline for each SQL statement, so a database that goes silent cannot hold a thread.

PostgreSQL's statement_timeout is enforced by the server, and TCP keepalives only notice a peer that
stops acknowledging; neither helps when something in between accepts the bytes and never answers. One
watchdog thread per process shuts down the socket of any statement that has run longer than
DATABASE_STATEMENT_TIMEOUT plus a grace period; psycopg then raises OperationalError, SQLAlchemy drops
the connection, and the visitor gets the 503 page.
"""

import itertools
import logging
import os
import socket
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext, ExecutionContext
from sqlalchemy.engine.interfaces import DBAPICursor

log = logging.getLogger(__name__)
GRACE_SECONDS = 1.0
TICK_SECONDS = 0.2


class StatementWatchdog:
    """Tracks running statements (deadline, socket fd) and cuts the connection of the overdue ones."""

    def __init__(self) -> None:
        self._running: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def start_statement(self, fd: int, seconds: float) -> int:
        """Register a statement on socket fd; returns a token for finish_statement."""
        token = next(self._ids)
        with self._lock:
            self._running[token] = (time.monotonic() + seconds, fd)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="sql-watchdog", daemon=True)
                self._thread.start()
        return token

    def finish_statement(self, token: int | None) -> None:
        """Forget a statement that has finished (or failed)."""
        if token is not None:
            with self._lock:
                self._running.pop(token, None)

    def _watch(self) -> None:
        while True:
            time.sleep(TICK_SECONDS)
            now = time.monotonic()
            with self._lock:
                overdue = [(t, fd) for t, (deadline, fd) in self._running.items() if deadline <= now]
                for token, _fd in overdue:
                    del self._running[token]
            for _token, fd in overdue:
                log.warning("database statement overdue: closing its connection")
                _shutdown_fd(fd)


def _shutdown_fd(fd: int) -> None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


WATCHDOG = StatementWatchdog()


def _socket_fd(cursor: Any) -> int | None:
    try:
        return int(cursor.connection.fileno())
    except (AttributeError, TypeError, ValueError, OSError):
        return None


def guard_statements(engine: Engine, seconds: float) -> None:
    """Give every statement on engine a client-side deadline of seconds + a grace period."""

    @event.listens_for(engine, "before_cursor_execute")
    def before(
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> None:
        fd = _socket_fd(cursor)
        deadline = seconds + GRACE_SECONDS
        conn.info["sql_watchdog"] = None if fd is None else WATCHDOG.start_statement(fd, deadline)

    @event.listens_for(engine, "after_cursor_execute")
    def after(
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> None:
        WATCHDOG.finish_statement(conn.info.pop("sql_watchdog", None))

    @event.listens_for(engine, "handle_error")
    def failed(context: ExceptionContext) -> None:
        if context.connection is not None:
            WATCHDOG.finish_statement(context.connection.info.pop("sql_watchdog", None))
