"""Moderation by the site's operator: suspend and restore accounts, delete posts, sign-in records.

A suspended account cannot sign in, its sessions (and remember cookies) end, and its
profile and posts are hidden. Every action is logged on the `microblog.moderation` logger.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Integer, Table, bindparam, func, select, update

from app.extensions import db
from app.main.posts import count_posts
from app.models import Post, User, as_utc, utcnow
from app.nicknames import user_with_nickname
from app.shared_cache import bump_content_version

log = logging.getLogger("microblog.moderation")
SUSPENDED_MESSAGE = (
    "This account is suspended: it cannot sign in. Contact the site's operator if this is a mistake."
)


class ModerationError(LookupError):
    """The user or post named on the command line does not exist."""


@dataclass(frozen=True)
class UserSummary:
    """One row of `flask users list`."""

    nickname: str
    suspended: bool
    sign_ins: int
    posts: int
    last_activity: datetime | None


def find_user_by_nickname(nickname: str) -> User:
    """The user with this nickname (exact, else differing only in case), suspended or not."""
    user = user_with_nickname(nickname)
    if user is None:
        raise ModerationError(f"no user has the nickname {nickname!r}")
    return user


def suspend_user(user: User) -> bool:
    """Suspend the account and end its sessions; False if it already was suspended."""
    if user.suspended_at is not None:
        return False
    from app.auth.devices import end_all_sessions  # here: app.auth's sign-in flow imports this module

    user.suspended_at = utcnow()
    bump_content_version()  # their posts leave every page (committed by end_all_sessions)
    end_all_sessions(user)  # every device session ends: its session and remember cookies stop working
    log.warning("moderation: suspended user %r (id %s); their sessions ended", user.nickname, user.id)
    return True


def unsuspend_user(user: User) -> bool:
    """Let a suspended account sign in again and show its profile; False if it was not suspended."""
    if user.suspended_at is None:
        return False
    user.suspended_at = None
    bump_content_version()  # their posts come back
    db.session.commit()
    log.warning("moderation: unsuspended user %r (id %s)", user.nickname, user.id)
    return True


def delete_post(post_id: int) -> Post:
    """Delete one post by id; ModerationError if there is none."""
    post = db.session.get(Post, post_id)
    if post is None:
        raise ModerationError(f"no post has the id {post_id}")
    author = post.author.nickname
    db.session.delete(post)
    count_posts(post.user_id, -1)
    bump_content_version()
    db.session.commit()
    log.warning("moderation: deleted post %s by %r", post_id, author)
    return post


# Built once: building the UPDATE for every sign-in cost more than running it. On the table, not
# the mapped class, so it runs as plain SQL (the session's loaded user is not synchronised).
_users = cast(Table, User.__table__)
COUNT_SIGN_IN = (
    update(_users)
    .where(_users.c.id == bindparam("user_id", type_=Integer))
    .values(
        sign_in_count=_users.c.sign_in_count + 1,
        last_sign_in_at=bindparam("now", type_=_users.c.last_sign_in_at.type),
    )
)


def record_sign_in(user: User, commit: bool = True) -> None:
    """Count a completed sign-in and note its time (one UPDATE)."""
    db.session.execute(COUNT_SIGN_IN, {"user_id": user.id, "now": utcnow()})
    if commit:
        db.session.commit()


def user_summaries() -> list[UserSummary]:
    """Every user with sign-in count, post count and last activity (latest sign-in or post).

    The count is the kept user.post_count; the latest post is one step down each user's
    (user_id, timestamp) index: no scan of the posts.
    """
    last_post_at = select(func.max(Post.timestamp)).where(Post.user_id == User.id).scalar_subquery()
    query = select(User, last_post_at).order_by(func.lower(User.nickname))
    summaries = []
    for user, last_post in db.session.execute(query):
        moments = [as_utc(m) for m in (user.last_sign_in_at, last_post) if m is not None]
        summaries.append(
            UserSummary(
                nickname=user.nickname,
                suspended=user.suspended_at is not None,
                sign_ins=user.sign_in_count,
                posts=user.post_count,
                last_activity=max(moments) if moments else None,
            )
        )
    return summaries
