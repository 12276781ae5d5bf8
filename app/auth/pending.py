"""A first sign-in waiting for the person to choose a nickname (protocol-neutral).

The verified identity is kept in the signed session as plain JSON for at most
ten minutes; the account is created only when the person confirms.
"""

import time

from flask import session
from sqlalchemy.exc import IntegrityError

from app.auth.accounts import VerifiedSignIn, add_user, find_user
from app.extensions import db
from app.nicknames import choose_nickname, clean_nickname, nickname_taken, unique_nickname

PENDING_KEY = "pending_sign_in"
PENDING_LIFETIME = 600  # seconds: a pending sign-in expires after 10 minutes


class NicknameTakenError(ValueError):
    """Someone else took the nickname between the check and the insert."""


def provider_nickname(sign_in):
    """The nickname the provider's profile gives (its nickname, else the email's local part), or ''."""
    for candidate in (sign_in.nickname, (sign_in.email or "").partition("@")[0]):
        cleaned = clean_nickname(candidate)
        if cleaned:
            return cleaned
    return ""


def needs_nickname_choice(sign_in):
    """Whether a first sign-in must ask for a nickname: none usable, or the usable one is taken."""
    nickname = provider_nickname(sign_in)
    return not nickname or nickname_taken(nickname)


def suggested_nickname(sign_in):
    """A free nickname to pre-fill the form with, derived from what the provider said."""
    return unique_nickname(choose_nickname(sign_in.nickname, sign_in.email, sign_in.subject))


def save_pending(sign_in, remember, next_url):
    """Keep a verified first sign-in, with the remember-me choice and safe next, for the nickname step."""
    session[PENDING_KEY] = {
        "issuer": sign_in.issuer,
        "subject": sign_in.subject,
        "nickname": sign_in.nickname,
        "email": sign_in.email,
        "remember": bool(remember),
        "next": next_url,
        "created_at": int(time.time()),
    }


def load_pending():
    """The pending sign-in as a dict with a `sign_in`, or None when missing, malformed or expired."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    created = data.get("created_at")
    fields = [data.get(key) for key in ("issuer", "subject")]
    if not isinstance(created, int) or not all(isinstance(value, str) and value for value in fields):
        return None
    if not 0 <= time.time() - created <= PENDING_LIFETIME:
        return None
    profile = [
        value if isinstance(value, str) else None for value in (data.get("nickname"), data.get("email"))
    ]
    return {
        "sign_in": VerifiedSignIn(*fields, *profile),
        "remember": bool(data.get("remember")),
        "next": data.get("next") if isinstance(data.get("next"), str) else None,
    }


def drop_pending():
    """Forget the pending sign-in; returns what it held (or None)."""
    pending = load_pending()
    session.pop(PENDING_KEY, None)
    return pending


def create_account(sign_in, nickname):
    """Create the account with exactly the chosen nickname; the identity's user if it exists meanwhile."""
    user = find_user(sign_in.issuer, sign_in.subject)
    if user is not None:
        return user
    if nickname_taken(nickname):
        raise NicknameTakenError(nickname)
    try:
        return add_user(sign_in, nickname)
    except IntegrityError:
        db.session.rollback()
        user = find_user(sign_in.issuer, sign_in.subject)
        if user is None:
            raise NicknameTakenError(nickname) from None
        return user
