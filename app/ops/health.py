"""GET /healthz: is this worker up, can it reach the database, and is the schema at the latest migration?"""

import logging

from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, limiter
from app.ops import bp
from app.ops.schema import schema_state

log = logging.getLogger(__name__)


def database_status() -> str:
    """ "ok", "not migrated", "behind", "ahead" or "unavailable" (each failure logged in one line)."""
    try:
        state = schema_state(db.session.connection())
    except SQLAlchemyError as exc:
        log.warning("health check: database unavailable (%s)", type(exc).__name__)
        db.session.rollback()
        return "unavailable"
    finally:
        db.session.remove()
    if not state.ok:
        log.warning("health check: %s", state.advice())
    return state.state


@bp.get("/healthz")
@limiter.exempt
def healthz() -> ResponseReturnValue:
    """200 when the database is reachable and migrated, else 503 naming the problem; never cached."""
    status = database_status()
    body = {"status": "ok" if status == "ok" else "unavailable", "database": status}
    return body, 200 if status == "ok" else 503, {"Cache-Control": "no-store"}
