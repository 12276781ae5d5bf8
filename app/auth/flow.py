"""What happens once a provider has verified an identity, whichever the protocol.

`finish_sign_in` is the one sign-in decision: find the user behind (issuer, subject), or create
one, or stop at the "Choose your nickname" step. `SignInFailed` is the one exception for a sign-in
that did not succeed. Users are found by the verified identity only, never by an email address.
"""

import time
from dataclasses import dataclass
from typing import TypedDict, cast

from flask import flash, redirect, session, url_for
from sqlalchemy import String, Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from app.auth.intent import INTENT_KEY, back_to_account, begin_intent, finish_intent, intent_pending
from app.auth.session import start_user_session
from app.extensions import db
from app.models import Identity, User, utcnow
from app.moderation import SUSPENDED_MESSAGE
from app.nicknames import choose_nickname, nickname_taken, profile_nickname, unique_nickname
from app.providers import identity_label
from app.redirects import redirect_next, safe_next
from app.text import clean_email

NEXT_KEY = "login_next"
REMEMBER_KEY = "login_remember"
PENDING_KEY = "pending_sign_in"
PENDING_LIFETIME = 600  # seconds: a first sign-in waits at most 10 minutes for its nickname


class SignInFailed(Exception):  # noqa: N818 - an outcome, not a programming error
    """A sign-in did not succeed (either protocol); str(exc) is a plain message for the person."""


class NicknameTakenError(ValueError):
    """Someone else took the nickname between the check and the insert."""


@dataclass(frozen=True)
class VerifiedSignIn:
    """What a provider proved (issuer, subject) and what it merely said (profile)."""

    issuer: str
    subject: str
    nickname: str | None = None
    email: str | None = None


# --- The round trip: where to go afterwards, and remember-me ---------------------------------------


def remember_intent(next_url: str | None, remember: bool) -> None:
    """Keep where the visitor was going and their remember-me choice for the round trip.

    A plain sign-in: any account round trip left unfinished in this browser is forgotten.
    """
    session.pop(INTENT_KEY, None)
    session[NEXT_KEY] = safe_next(next_url)
    session[REMEMBER_KEY] = bool(remember)


def prepare_round_trip(intent: str | None, next_url: str | None, remember: bool) -> Response | None:
    """Before the provider: keep a connect or confirm intent (None or a refusal), else next and remember."""
    if intent is not None:
        return begin_intent(intent, next_url)
    remember_intent(next_url, remember)
    return None


def login_page_url() -> str:
    """The login page, keeping the pending `next` so a retry still goes there."""
    return url_for("auth.login", next=session.get(NEXT_KEY) or None)


def back_to_login(message: str) -> Response:
    """Every failed sign-in ends here: the login page (keeping `next`) with a plain message.

    A failed round trip started from the account page (add a method, confirm it's you) goes
    back there instead.
    """
    if intent_pending():
        return back_to_account(message)
    flash(message, "error")
    return redirect(login_page_url())


# --- Users behind identities -----------------------------------------------------------------------


# The sign-in's statements, built once (building them for every sign-in cost more than running them).
USER_OF_IDENTITY = (
    select(User)
    .join(Identity)
    .where(
        Identity.issuer == bindparam("issuer", type_=String),
        Identity.subject == bindparam("subject", type_=String),
    )
)
_identities = cast(Table, Identity.__table__)
IDENTITY_USED = (  # on the table: plain SQL, the session's loaded identities are not synchronised
    update(_identities)
    .where(
        _identities.c.issuer == bindparam("used_issuer", type_=String),
        _identities.c.subject == bindparam("used_subject", type_=String),
    )
    .values(last_used_at=bindparam("now", type_=_identities.c.last_used_at.type))
)


def find_user(issuer: str, subject: str) -> User | None:
    """The user linked to exactly this verified identity, or None. Never looks at email."""
    return db.session.scalars(USER_OF_IDENTITY, {"issuer": issuer, "subject": subject}).first()


def create_user(sign_in: VerifiedSignIn, nickname: str | None = None) -> User:
    """Create a user with the identity linked: exactly `nickname`, else a free one derived from it."""
    if nickname is None:
        nickname = unique_nickname(choose_nickname(sign_in.nickname, sign_in.email, sign_in.subject))
    user = User(nickname=nickname, email=clean_email(sign_in.email))
    user.identities.append(Identity(issuer=sign_in.issuer, subject=sign_in.subject))
    db.session.add(user)
    db.session.commit()
    return user


def find_or_create_user(sign_in: VerifiedSignIn) -> User:
    """The user for a verified identity, creating one (with a derived nickname) on first sign-in."""
    user = find_user(sign_in.issuer, sign_in.subject)
    if user is not None:
        return user
    try:
        return create_user(sign_in)
    except IntegrityError:
        # Another request created the identity or took the nickname meanwhile.
        db.session.rollback()
        return find_user(sign_in.issuer, sign_in.subject) or create_user(sign_in)


def create_account(sign_in: VerifiedSignIn, nickname: str) -> User:
    """Create the account with exactly the chosen nickname; the identity's user if it exists meanwhile."""
    user = find_user(sign_in.issuer, sign_in.subject)
    if user is not None:
        return user
    if nickname_taken(nickname):
        raise NicknameTakenError(nickname)
    try:
        return create_user(sign_in, nickname)
    except IntegrityError:
        db.session.rollback()
        user = find_user(sign_in.issuer, sign_in.subject)
        if user is None:
            raise NicknameTakenError(nickname) from None
        return user


# --- The sign-in decision --------------------------------------------------------------------------


def needs_nickname_choice(sign_in: VerifiedSignIn) -> bool:
    """Whether a first sign-in must ask for a nickname: none usable, or the usable one is taken."""
    nickname = profile_nickname(sign_in.nickname, sign_in.email)
    return not nickname or nickname_taken(nickname)


def finish_sign_in(sign_in: VerifiedSignIn) -> Response:
    """Sign in the user behind a verified identity and go where they were going.

    A first sign-in whose provider gave no usable or a taken nickname stops at the
    "Choose your nickname" step instead; the account is created only when confirmed.
    A round trip started from the account page (a marker in the session) signs no one in:
    it links the identity to the signed-in account, or confirms it's them (app.auth.intent).
    """
    if intent_pending():
        keep_verification()
        return finish_intent(sign_in.issuer, sign_in.subject)
    next_url = session.pop(NEXT_KEY, None)
    remember = bool(session.pop(REMEMBER_KEY, False))
    user = find_user(sign_in.issuer, sign_in.subject)
    if user is None:
        keep_verification()
        if needs_nickname_choice(sign_in):
            save_pending(sign_in, remember, safe_next(next_url))
            return redirect(url_for("auth.choose_nickname"))
        user = find_or_create_user(sign_in)
    if user.suspended_at is not None:  # `flask users suspend`
        keep_verification()
        return back_to_login(SUSPENDED_MESSAGE)
    # A returning user: the verification's records commit with the sign-in, in one transaction.
    note_identity_used(sign_in)
    start_user_session(user, remember, identity_label(sign_in.issuer, sign_in.subject))
    return redirect_next(next_url)


def keep_verification() -> None:
    """Commit what verifying the answer recorded (OpenID 2.0's spent token and nonce) on its own.

    For every outcome but a returning user's sign-in, whose one transaction holds them: what follows
    may roll back (a lost race to create the user or link the identity), or write nothing.
    """
    db.session.commit()


def note_identity_used(sign_in: VerifiedSignIn) -> None:
    """Record when this sign-in method was last used (account page); start_user_session commits it."""
    used = {"used_issuer": sign_in.issuer, "used_subject": sign_in.subject, "now": utcnow()}
    db.session.execute(IDENTITY_USED, used)


def finish_pending_sign_in(user: User, pending: "PendingSignIn") -> Response:
    """Sign in the account just created at the nickname step, keeping remember-me and next."""
    sign_in = pending["sign_in"]
    note_identity_used(sign_in)
    start_user_session(user, pending["remember"], identity_label(sign_in.issuer, sign_in.subject))
    flash(f"Welcome to Microblog, {user.nickname}!", "success")
    return redirect_next(pending["next"])


# --- A first sign-in waiting for its nickname (kept in the signed session as plain JSON) -----------


class PendingSignIn(TypedDict):
    """A checked pending sign-in, as load_pending returns it."""

    sign_in: VerifiedSignIn
    remember: bool
    next: str | None


def suggested_nickname(sign_in: VerifiedSignIn) -> str:
    """A free nickname to pre-fill the form with, derived from what the provider said."""
    return unique_nickname(choose_nickname(sign_in.nickname, sign_in.email, sign_in.subject))


def save_pending(sign_in: VerifiedSignIn, remember: bool, next_url: str | None) -> None:
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


def load_pending() -> "PendingSignIn | None":
    """The pending sign-in as a dict with a `sign_in`, or None when missing, malformed or expired."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    created = data.get("created_at")
    issuer, subject = data.get("issuer"), data.get("subject")
    if not (
        isinstance(created, int)
        and isinstance(issuer, str)
        and isinstance(subject, str)
        and issuer
        and subject
    ):
        return None
    if not 0 <= time.time() - created <= PENDING_LIFETIME:
        return None
    nickname, email = (
        data.get(key) if isinstance(data.get(key), str) else None for key in ("nickname", "email")
    )
    return {
        "sign_in": VerifiedSignIn(issuer, subject, nickname, email),
        "remember": bool(data.get("remember")),
        "next": data.get("next") if isinstance(data.get("next"), str) else None,
    }


def drop_pending() -> "PendingSignIn | None":
    """Forget the pending sign-in; returns what it held (or None)."""
    pending = load_pending()
    session.pop(PENDING_KEY, None)
    return pending
