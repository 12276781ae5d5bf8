"""A plain-words 503 page when the database cannot be reached, never a traceback."""

import logging

from flask import Flask, g, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DataError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.extensions import db, login_manager
from app.ops.schema import looks_like_missing_schema, schema_state

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30
TITLE = "Temporarily unavailable"
MESSAGE = (
    "Microblog cannot reach its database right now, so this page cannot be shown. "
    "Nothing you had saved is lost. Please try again in a minute or so."
)
UPDATING_MESSAGE = (
    "Microblog is being updated and cannot show this page right now. "
    "Nothing you had saved is lost. Please try again in a few minutes."
)


def is_outage(error: Exception) -> bool:
    """Whether a database error means the database is unreachable or unusable right now."""
    return isinstance(error, OperationalError | PoolTimeout) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def forget_session() -> None:
    """Drop the failed transaction; the connection may already be gone."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - rolling back a dead connection may fail too
        log.debug("rollback after a database outage failed", exc_info=True)


def schema_problem(error: SQLAlchemyError) -> str | None:
    """The one-line advice when a missing table or column comes from an unmigrated schema, else None."""
    if not looks_like_missing_schema(error):
        return None
    forget_session()
    try:
        state = schema_state(db.session.connection())
    except SQLAlchemyError:
        return None
    finally:
        forget_session()
    return None if state.ok else state.advice()


def database_unavailable(error: SQLAlchemyError) -> ResponseReturnValue:
    """Answer 503 with a page that needs nothing from the database (not even the signed-in user)."""
    advice = schema_problem(error)
    message = UPDATING_MESSAGE if advice else MESSAGE
    if advice:
        log.warning("%s", advice)
    elif is_outage(error):
        log.warning("database unavailable: %s", type(getattr(error, "orig", error)).__name__)
    else:
        raise error
    forget_session()
    # Render as a visitor: loading (or refreshing) the signed-in user would query the database again.
    g._login_user = g.user = login_manager.anonymous_user()
    page = render_template("errors/error.html", code=503, title=TITLE, message=message)
    return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}


def unstorable_input(error: DataError) -> tuple[str, int]:
    """Answer 400 when the database refuses a value as such (e.g. a NUL byte on PostgreSQL)."""
    log.info("database refused a value: %s", type(getattr(error, "orig", error)).__name__)
    forget_session()
    message = (
        "Something you sent contains characters that cannot be stored. Please remove them and try again."
    )
    return render_template("errors/error.html", code=400, title="Bad request", message=message), 400


def register_outage_handler(app: Flask) -> None:
    """Turn database outages anywhere in a request into the 503 page, refused values into a 400."""
    app.register_error_handler(DataError, unstorable_input)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(DBAPIError, database_unavailable)
    app.register_error_handler(PoolTimeout, database_unavailable)
