"""Alembic environment for Flask-Migrate: the app's engine and models, one upgrade at a time."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import text

config = context.config

# Log to the console when run as `flask db ...`, but never reset the logging of a running app.
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

# Any constant: PostgreSQL sessions upgrading at the same time wait for each other on it.
UPGRADE_LOCK_KEY = 4_242_001


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_metadata():
    return current_app.extensions["migrate"].db.metadata


DATABASE_URL = get_engine().url.render_as_string(hide_password=False)
config.set_main_option("sqlalchemy.url", DATABASE_URL.replace("%", "%%"))


def run_migrations_offline():
    """Emit the SQL for the migrations instead of running them (`flask db upgrade --sql`)."""
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def skip_empty_autogenerate(context, revision, directives):
    """Do not write a migration file when autogenerate finds no change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def lock_against_concurrent_upgrades(connection):
    """On PostgreSQL, hold a transaction-level advisory lock while migrating.

    Several hosts may run `flask db upgrade` at the same time on deploy; the
    second waits, then finds the schema already current and does nothing.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})


def run_migrations_online():
    """Run the migrations on the app's database in one transaction (where the database allows it)."""
    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", skip_empty_autogenerate)
    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            lock_against_concurrent_upgrades(connection)
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
