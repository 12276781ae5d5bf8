"""Looking up profiles and saving an owner's changes."""

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import User
from app.nicknames import user_with_nickname
from app.providers import identity_label
from app.shared_cache import bump_content_version


class ProfileConflictError(ValueError):
    """The nickname was taken between the check and the save."""


def find_profile(nickname: str) -> User | None:
    """The user with exactly this nickname, else one differing only in case; None if none or suspended.

    The exact match comes with the user's identities (the page lists their providers) in one query.
    """
    user = user_with_nickname(nickname, joinedload(User.identities))
    return None if user is None or user.suspended_at is not None else user


def identity_labels(user: User) -> list[str]:
    """The providers the user signs in with, as readable names, each once, in link order."""
    labels = [identity_label(i.issuer, i.subject) for i in sorted(user.identities, key=lambda i: i.id)]
    return list(dict.fromkeys(labels))


def update_profile(user: User, nickname: str, email: str | None) -> None:
    """Save a checked nickname and email; ProfileConflictError if the nickname went meanwhile."""
    renamed = nickname != user.nickname
    user.nickname = nickname
    user.email = email or None
    try:
        if renamed:
            bump_content_version()  # every post of theirs shows the name (flushes: may find a clash)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ProfileConflictError(nickname) from None
