"""Bring the database to the latest schema by its migrations (as `flask db upgrade` does). Safe to rerun."""

import sys

from sqlalchemy.exc import OperationalError

from app import create_app
from app.database import ensure_schema
from app.ops.startup import database_error_line


def main():
    """Bring the configured database to the current schema (one line and exit 1 when it cannot be used)."""
    app = create_app()
    with app.app_context():
        try:
            ensure_schema()
        except OperationalError as exc:
            print(
                f"microblog: {database_error_line(exc, app.config['SQLALCHEMY_DATABASE_URI'])}",
                file=sys.stderr,
            )
            raise SystemExit(1) from None
    print(f"Database ready: {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")


if __name__ == "__main__":
    main()
