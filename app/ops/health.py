"""GET /healthz: is this worker up and can it reach the database?"""

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, limiter
from app.ops import bp

log = logging.getLogger(__name__)


def database_ok():
    """Run a trivial query; False (logged, without details) when the database does not answer."""
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError as exc:
        log.warning("health check: database unavailable (%s)", type(exc).__name__)
        db.session.rollback()
        return False
    finally:
        db.session.remove()


@bp.get("/healthz")
@limiter.exempt
def healthz():
    """200 when the database answers, 503 when it does not; never cached."""
    ok = database_ok()
    body = {"status": "ok" if ok else "unavailable", "database": "ok" if ok else "unavailable"}
    return body, 200 if ok else 503, {"Cache-Control": "no-store"}
