"""Running the app in production: health check, logging, proxy trust, database outages, CLI."""

from flask import Blueprint

bp = Blueprint("ops", __name__)

from app.ops import health  # noqa: E402,F401  (routes register on bp)
