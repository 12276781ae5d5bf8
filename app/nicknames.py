"""Turning what a provider says into a clean, unique nickname."""

import re
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm.interfaces import ORMOption

from app.extensions import db
from app.models import NICKNAME_MAX, User
from app.providers import nickname_hint

NICKNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DISALLOWED = re.compile(r"[^A-Za-z0-9_.-]+")
_HOST_PREFIXES = ("www.", "login.", "openid.", "id.", "accounts.")


def clean_nickname(raw: object) -> str:
    """Keep letters, digits, '_', '.', '-'; trim to the maximum length; '' if nothing is left."""
    if not isinstance(raw, str):
        return ""
    cleaned = _DISALLOWED.sub("-", raw.strip()).strip("-_.")
    return cleaned[:NICKNAME_MAX].rstrip("-_.")


def is_valid_nickname(nickname: str) -> bool:
    """Whether a nickname a person typed is acceptable as it is."""
    return bool(nickname) and len(nickname) <= NICKNAME_MAX and bool(NICKNAME_PATTERN.match(nickname))


def nickname_from_identifier(identifier: str | None) -> str:
    """A readable name derived from an identifier URL, such as 'steam-7656119'."""
    parts = urlsplit(identifier or "")
    host = (parts.hostname or "").lower()
    prefix = nickname_hint(host)
    if prefix is None:
        for lead in _HOST_PREFIXES:
            host = host.removeprefix(lead)
        labels = [label for label in host.split(".") if label and not label.isdigit()]
        prefix = labels[0] if labels else "user"
    segments = [s for s in parts.path.split("/") if s]
    tail = clean_nickname(segments[-1]) if segments else ""
    return clean_nickname(f"{prefix}-{tail}" if tail else prefix) or "user"


def first_nickname(*candidates: object) -> str | None:
    """The first candidate that is still a usable nickname once cleaned, or None."""
    for candidate in candidates:
        cleaned = clean_nickname(candidate)
        if cleaned:
            return cleaned
    return None


def profile_nickname(nickname: str | None, email: str | None) -> str | None:
    """The nickname a provider's profile gives: its nickname, else the email's local part, or None."""
    return first_nickname(nickname, (email or "").partition("@")[0])


def choose_nickname(
    nickname: str | None = None, email: str | None = None, identifier: str | None = None
) -> str:
    """The first usable base: provider nickname, email local part, else derived from the identifier."""
    return profile_nickname(nickname, email) or nickname_from_identifier(identifier)


def user_with_nickname(nickname: str, *options: ORMOption) -> User | None:
    """The user with exactly this nickname, else the one whose nickname differs only in case
    (nicknames are unique regardless of case); options are loader options such as joinedload."""
    by_nickname = select(User).options(*options)
    user = db.session.scalars(by_nickname.where(User.nickname == nickname)).unique().first()
    if user is None:
        lowered = by_nickname.where(func.lower(User.nickname) == nickname.lower())
        user = db.session.scalars(lowered).unique().first()
    return user


def nickname_taken(nickname: str, except_user_id: int | None = None) -> bool:
    """Whether another user has this nickname, ignoring case (no 'Alice' beside 'alice')."""
    query = select(User.id).where(func.lower(User.nickname) == nickname.lower())
    if except_user_id is not None:
        query = query.where(User.id != except_user_id)
    return db.session.scalars(query.limit(1)).first() is not None


def nickname_problem(nickname: str | None, except_user_id: int | None = None) -> str | None:
    """Why a nickname a person typed cannot be used, in plain words; None when it can."""
    if not nickname:
        return "Please choose a nickname."
    if len(nickname) > NICKNAME_MAX:
        return f"That nickname is too long (at most {NICKNAME_MAX} characters)."
    if not is_valid_nickname(nickname):
        return "Use letters, digits, '_', '.' or '-', starting with a letter or digit."
    if nickname_taken(nickname, except_user_id):
        return f"The nickname {nickname!r} is taken. Please choose another."
    return None


def unique_nickname(base: str) -> str:
    """Return base, or base with the smallest free '-N' suffix when it is taken (ignoring case)."""
    base = clean_nickname(base) or "user"
    stem = base[: NICKNAME_MAX - 10].lower()  # every candidate below starts with this
    taken = set(
        db.session.scalars(
            select(func.lower(User.nickname)).where(
                func.lower(User.nickname).startswith(stem, autoescape=True)
            )
        )
    )
    if base.lower() not in taken:
        return base
    number = 2
    while True:
        suffix = f"-{number}"
        candidate = base[: NICKNAME_MAX - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
        number += 1
