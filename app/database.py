"""Bringing a database to the current schema, safely and repeatably."""

from app.extensions import db


def ensure_schema():
    """Create any missing tables; existing tables and their rows are left as they are."""
    import app.models  # noqa: F401  (registers the tables)

    db.create_all()
