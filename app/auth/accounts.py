"""Finding or creating the user behind a verified sign-in identity."""

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Identity, User
from app.nicknames import choose_nickname, unique_nickname
from app.text import has_control_characters

EMAIL_MAX = 254
_EMAIL_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")


@dataclass(frozen=True)
class VerifiedSignIn:
    """What a provider proved (issuer, subject) and what it merely said (profile)."""

    issuer: str
    subject: str
    nickname: str | None = None
    email: str | None = None


def clean_email(raw):
    """Return a plausible email address as profile data, or None."""
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if len(raw) > EMAIL_MAX or not _EMAIL_SHAPE.match(raw):
        return None
    if has_control_characters(raw):
        return None
    return raw


def find_user(issuer, subject):
    """The user linked to exactly this verified identity, or None. Never looks at email."""
    return db.session.scalars(
        select(User).join(Identity).where(Identity.issuer == issuer, Identity.subject == subject)
    ).first()


def add_user(sign_in, nickname):
    """Create a user with exactly this (already checked) nickname and link the identity."""
    user = User(nickname=nickname, email=clean_email(sign_in.email))
    user.identities.append(Identity(issuer=sign_in.issuer, subject=sign_in.subject))
    db.session.add(user)
    db.session.commit()
    return user


def create_user(sign_in, nickname=None):
    """Create a user and link the identity; nickname defaults to one derived from the sign-in."""
    base = nickname or choose_nickname(sign_in.nickname, sign_in.email, sign_in.subject)
    return add_user(sign_in, unique_nickname(base))


def find_or_create_user(sign_in):
    """The user for a verified identity, creating one on first sign-in."""
    user = find_user(sign_in.issuer, sign_in.subject)
    if user is not None:
        return user
    try:
        return create_user(sign_in)
    except IntegrityError:
        # Another request created the identity or took the nickname meanwhile.
        db.session.rollback()
        return find_user(sign_in.issuer, sign_in.subject) or create_user(sign_in)
