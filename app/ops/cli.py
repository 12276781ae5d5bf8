"""`flask openid-cleanup`: delete expired OpenID nonces and associations (safe from cron)."""

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from app.auth.openid2.store import DatabaseOpenIDStore


@click.command("openid-cleanup")
@with_appcontext
def openid_cleanup():
    """Delete expired OpenID nonces and associations. Idempotent, so safe to run from cron."""
    store = DatabaseOpenIDStore()
    try:
        nonces = store.cleanupNonces()
        associations = store.cleanupAssociations()
    except OperationalError:
        raise click.ClickException("the database is not reachable; nothing was deleted.") from None
    click.echo(f"openid-cleanup: removed {nonces} expired nonces and {associations} expired associations.")


def register_commands(app: Flask) -> None:
    """Add the operations and moderation commands to the app's `flask` CLI."""
    from app.ops.moderation_cli import posts_cli, users_cli

    app.cli.add_command(openid_cleanup)
    app.cli.add_command(posts_cli)
    app.cli.add_command(users_cli)
