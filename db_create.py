"""Create the database schema. Safe to run again: nothing existing is changed or lost."""

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
