"""`flask posts delete ID`, `flask users suspend|unsuspend NICKNAME`, `flask users list`."""

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError

from app.moderation import (
    ModerationError,
    UserSummary,
    delete_post,
    find_user_by_nickname,
    suspend_user,
    unsuspend_user,
    user_summaries,
)
from app.ops.startup import database_error_line

posts_cli = AppGroup("posts", help="Moderate posts.")
users_cli = AppGroup("users", help="Moderate accounts: list, suspend, unsuspend.")

T = TypeVar("T")


def moderation_step(action: Callable[[], T]) -> T:
    """Run action, turning 'no such user/post' or an unusable database into a one-line error (exit 1)."""
    try:
        return action()
    except ModerationError as exc:
        raise click.ClickException(str(exc)) from None
    except OperationalError as exc:
        url = current_app.config["SQLALCHEMY_DATABASE_URI"]
        raise click.ClickException(database_error_line(exc, url)) from None


@posts_cli.command("delete")
@click.argument("post_id", type=int)
def delete_post_command(post_id: int) -> None:
    """Delete the post with this id (shown in its page's HTML as post-ID)."""
    post = moderation_step(lambda: delete_post(post_id))
    click.echo(f"Deleted post {post_id} by {post.author.nickname}.")


@users_cli.command("suspend")
@click.argument("nickname")
def suspend_command(nickname: str) -> None:
    """Suspend an account: it cannot sign in, its sessions end, its profile and posts are hidden."""
    user = moderation_step(lambda: find_user_by_nickname(nickname))
    if suspend_user(user):
        click.echo(f"Suspended {user.nickname}: signed out everywhere; profile and posts hidden.")
    else:
        click.echo(f"{user.nickname} was already suspended.")


@users_cli.command("unsuspend")
@click.argument("nickname")
def unsuspend_command(nickname: str) -> None:
    """Lift a suspension: the account can sign in again and its profile and posts show."""
    user = moderation_step(lambda: find_user_by_nickname(nickname))
    if unsuspend_user(user):
        click.echo(f"Unsuspended {user.nickname}: they can sign in again.")
    else:
        click.echo(f"{user.nickname} is not suspended.")


def when(moment: datetime | None) -> str:
    """A time for the table, in UTC to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def summary_line(row: UserSummary, width: int) -> str:
    """One aligned line of the users table."""
    status = "suspended" if row.suspended else "active"
    return (
        f"{row.nickname:<{width}}  {status:<9}  {row.sign_ins:>8}  {row.posts:>5}  {when(row.last_activity)}"
    )


@users_cli.command("list")
def list_command() -> None:
    """Every account with its status, sign-in count, post count and last activity."""
    rows = moderation_step(user_summaries)
    width = max([len("NICKNAME")] + [len(row.nickname) for row in rows])
    click.echo(f"{'NICKNAME':<{width}}  {'STATUS':<9}  {'SIGN-INS':>8}  {'POSTS':>5}  LAST ACTIVITY")
    for row in rows:
        click.echo(summary_line(row, width))
    click.echo(f"{len(rows)} users, {sum(row.suspended for row in rows)} suspended.")
