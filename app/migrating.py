"""Flask-Migrate, loaded only when a migration runs, so web workers never import Alembic.

Alembic with its template engine adds about 11 MB to every process that imports
it. The `flask db ...` commands and ensure_schema() load the real Flask-Migrate
on first use; serving pages never does.
"""

from typing import Any, Protocol

import click
from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy


class MigrateConfig(Protocol):
    """What Flask-Migrate keeps in app.extensions["migrate"] (its private _MigrateConfig), as used here."""

    directory: str


def migrate_commands() -> click.Group:
    """Flask-Migrate's own `db` command group (imports Alembic)."""
    from flask_migrate.cli import db

    return db


class MigrateCommands(click.Group):
    """`flask db`: Flask-Migrate's command group, imported only when `flask db ...` runs."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return migrate_commands().get_params(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return migrate_commands().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        load_migrate(current_app)
        return migrate_commands().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import OperationalError

        from app.ops.startup import database_error_line

        self.callback = migrate_commands().callback  # sets the --directory and -x options for the commands
        try:
            return super().invoke(ctx)
        except OperationalError as exc:  # a missing database, a wrong password: one line, no traceback
            raise click.ClickException(
                database_error_line(exc, current_app.config["SQLALCHEMY_DATABASE_URI"])
            ) from None


class LazyMigrate:
    """Stands in for flask_migrate.Migrate: remembers its settings, binds the real one on demand."""

    def init_app(self, app: Flask, db: SQLAlchemy, **settings: Any) -> None:
        app.extensions["migrate_settings"] = (db, settings)
        app.cli.add_command(
            MigrateCommands("db", help="Perform database migrations (Flask-Migrate, Alembic).")
        )


def load_migrate(app: Flask) -> MigrateConfig:
    """Bind the real Flask-Migrate to app (once); return its config (app.extensions['migrate'])."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        db, settings = app.extensions["migrate_settings"]
        Migrate(app, db, **settings)
    return app.extensions["migrate"]
