"""Database models: users, their sign-in identities, posts and OpenID protocol state."""

import secrets
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.providers import OPENID2_ISSUER as OPENID2_ISSUER  # re-exported: identities store it

NICKNAME_MAX = 64
POST_MAX = 140


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as timezone-aware UTC (SQLite hands back naive datetimes, which are UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_session_token() -> str:
    """Return a fresh random token identifying a user's sign-ins (see User.get_id)."""
    return secrets.token_urlsafe(32)


class User(UserMixin, Model):
    """A person using the microblog; identities link their sign-in accounts."""

    id: Mapped[int] = mapped_column(primary_key=True)
    nickname: Mapped[str] = mapped_column(String(NICKNAME_MAX), unique=True, index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    session_token: Mapped[str] = mapped_column(String(64), unique=True, index=True, default=new_session_token)
    # Moderation: a suspended account cannot sign in and its profile and posts are hidden.
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    sign_in_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Kept by every code path that adds or removes a post, in the same transaction (see count_posts).
    post_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    identities: Mapped[list["Identity"]] = relationship(back_populates="user", cascade="all, delete-orphan")
    posts: Mapped[list["Post"]] = relationship(
        back_populates="author", cascade="all, delete-orphan", lazy="dynamic"
    )

    __allow_unmapped__ = True  # lets `device` below be a plain attribute, not a column
    device: "UserSession | None" = (
        None  # this request's device session: set by the user loader and at sign-in
    )

    def get_id(self) -> str:
        """Flask-Login's id: this browser's device session token, so ending that session signs it out."""
        return self.device.session_token if self.device is not None else self.session_token

    def __repr__(self) -> str:
        return f"<User {self.nickname!r}>"


# "Alice" and "alice" are one name: the database enforces it, not only the app's check.
Index("uq_user_nickname_lower", func.lower(User.nickname), unique=True)


class Identity(Model):
    """A verified sign-in identifier linked to a user.

    OpenID 2.0: issuer is "openid2" and subject the claimed identifier exactly as
    python3-openid verified it. OpenID Connect: the provider's issuer and `sub`.
    """

    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_identity_issuer_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(2048))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="identities")


class UserSession(Model):
    """A device session: one browser's sign-in, recorded so it can be listed and ended on the server.

    `session_token` is the random public id that the session cookie and the remember cookie carry
    (Flask-Login's user id); deleting the row signs that browser out at once.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_token: Mapped[str] = mapped_column(String(64), unique=True, index=True, default=new_session_token)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    authenticated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_agent: Mapped[str] = mapped_column(String(120), default="")
    method: Mapped[str] = mapped_column(String(255), default="")


class SecurityEvent(Model):
    """Something that happened to an account's security: shown to its owner only."""

    __tablename__ = "security_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(255), default="")
    device: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Post(Model):
    """A short message written by a user.

    Lists run newest first, (timestamp, id) descending, and page by that key (app/pagination.py):
    one index serves the timeline, one each author's posts (migration 0005).
    """

    __table_args__ = (
        Index("ix_post_timestamp_id", "timestamp", "id"),
        Index("ix_post_user_id_timestamp_id", "user_id", "timestamp", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(POST_MAX))
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))

    author: Mapped[User] = relationship(back_populates="posts")


class ContentVersion(Model):
    """One row whose number goes up with every change readers would see (see app/shared_cache.py)."""

    __tablename__ = "content_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class OpenIDAssociation(Model):
    """A python3-openid association shared by every worker (see app.auth.openid2.store)."""

    __tablename__ = "openid_association"
    __table_args__ = (UniqueConstraint("server_url", "handle", name="uq_association"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_url: Mapped[str] = mapped_column(String(2048), index=True)
    handle: Mapped[str] = mapped_column(String(255))
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    issued: Mapped[int] = mapped_column(Integer)
    lifetime: Mapped[int] = mapped_column(Integer)
    assoc_type: Mapped[str] = mapped_column(String(64))
    expires: Mapped[int] = mapped_column(Integer, index=True)


class OpenIDNonce(Model):
    """A used OpenID response nonce; the unique key makes replays fail in any worker."""

    __tablename__ = "openid_nonce"
    __table_args__ = (UniqueConstraint("server_url", "timestamp", "salt", name="uq_nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_url: Mapped[str] = mapped_column(String(2048))
    timestamp: Mapped[int] = mapped_column(Integer, index=True)
    salt: Mapped[str] = mapped_column(String(64))
