"""Flask-Migrate, loaded only when a migration runs, so web workers never import Alembic.

Alembic with its template engine adds about 11 MB to every process that imports
it. The `flask db ...` commands and ensure_schema() load the real Flask-Migrate
on first use; serving pages never does.
"""

import click
from flask import current_app


def migrate_commands():
    """Flask-Migrate's own `db` command group (imports Alembic)."""
    from flask_migrate.cli import db

    return db


class MigrateCommands(click.Group):
    """`flask db`: Flask-Migrate's command group, imported only when `flask db ...` runs."""

    def get_params(self, ctx):
        return migrate_commands().get_params(ctx)

    def list_commands(self, ctx):
        return migrate_commands().list_commands(ctx)

    def get_command(self, ctx, name):
        load_migrate(current_app)
        return migrate_commands().get_command(ctx, name)

    def invoke(self, ctx):
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

    def init_app(self, app, db, **settings):
        app.extensions["migrate_settings"] = (db, settings)
        app.cli.add_command(
            MigrateCommands("db", help="Perform database migrations (Flask-Migrate, Alembic).")
        )


def load_migrate(app):
    """Bind the real Flask-Migrate to app (once); return its config (app.extensions['migrate'])."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        db, settings = app.extensions["migrate_settings"]
        Migrate(app, db, **settings)
    return app.extensions["migrate"]
