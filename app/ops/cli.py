"""`flask housekeeping` (also `flask openid-cleanup`): delete expired OpenID state and device sessions."""

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from app.auth.devices import remove_expired_sessions
from app.auth.openid2.store import DatabaseOpenIDStore


def clean_up() -> None:
    """Delete expired nonces, associations and device sessions, and say how many."""
    store = DatabaseOpenIDStore()
    try:
        nonces = store.cleanupNonces()
        associations = store.cleanupAssociations()
        sessions = remove_expired_sessions()
    except OperationalError:
        raise click.ClickException("the database is not reachable; nothing was deleted.") from None
    click.echo(
        f"openid-cleanup: removed {nonces} expired nonces and {associations} expired associations, "
        f"and {sessions} expired device sessions."
    )


@click.command("housekeeping")
@with_appcontext
def housekeeping() -> None:
    """Delete expired OpenID nonces, associations and device sessions. Idempotent: safe from cron."""
    clean_up()


@click.command("openid-cleanup")
@with_appcontext
def openid_cleanup() -> None:
    """The former name of `flask housekeeping` (kept for existing cron jobs); does the same."""
    clean_up()


def register_commands(app: Flask) -> None:
    """Add the operations and moderation commands to the app's `flask` CLI."""
    from app.ops.moderation_cli import posts_cli, users_cli

    app.cli.add_command(housekeeping)
    app.cli.add_command(openid_cleanup)
    app.cli.add_command(posts_cli)
    app.cli.add_command(users_cli)
