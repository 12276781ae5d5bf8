"""Bring the database to the latest schema by its migrations (as `flask db upgrade` does). Safe to rerun."""

from app import create_app
from app.database import ensure_schema


def main():
    """Bring the configured database to the current schema."""
    app = create_app()
    with app.app_context():
        ensure_schema()
    print(f"Database ready: {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")


if __name__ == "__main__":
    main()
