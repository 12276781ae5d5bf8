"""What happens around a sign-in: intent kept across the round trip, session start, end."""

import time

from flask import current_app, flash, g, redirect, session, url_for
from flask_login import login_user, logout_user

from app.auth.accounts import find_or_create_user, find_user
from app.auth.pending import needs_nickname_choice, save_pending
from app.redirects import redirect_next, safe_next

NEXT_KEY = "login_next"
REMEMBER_KEY = "login_remember"
SIGNED_IN_AT_KEY = "signed_in_at"


def remember_intent(next_url, remember):
    """Keep where the visitor was going and their remember-me choice for the round trip."""
    session[NEXT_KEY] = safe_next(next_url)
    session[REMEMBER_KEY] = bool(remember)


def login_page_url():
    """The login page, keeping the pending `next` so a retry still goes there."""
    return url_for("auth.login", next=session.get(NEXT_KEY) or None)


def start_user_session(user, remember):
    """Sign the user in on a fresh session; nothing from before sign-in carries over.

    Without remember-me the session cookie lasts until the browser closes; with it,
    the cookie is kept (and the remember cookie restores the session later).
    """
    session.clear()
    login_user(user, remember=remember, duration=current_app.config["REMEMBER_COOKIE_DURATION"])
    session.permanent = bool(remember)
    session[SIGNED_IN_AT_KEY] = int(time.time())


def finish_sign_in(sign_in):
    """Sign in the user behind a verified identity and go where they were going.

    A first sign-in whose provider gave no usable or a taken nickname stops at the
    "Choose your nickname" step instead; the account is created only when confirmed.
    """
    next_url = session.pop(NEXT_KEY, None)
    remember = bool(session.pop(REMEMBER_KEY, False))
    if find_user(sign_in.issuer, sign_in.subject) is None and needs_nickname_choice(sign_in):
        save_pending(sign_in, remember, safe_next(next_url))
        return redirect(url_for("auth.choose_nickname"))
    user = find_or_create_user(sign_in)
    start_user_session(user, remember)
    return redirect_next(next_url)


def finish_pending_sign_in(user, pending):
    """Sign in the account just created at the nickname step, keeping remember-me and next."""
    start_user_session(user, pending["remember"])
    flash(f"Welcome to Microblog, {user.nickname}!", "success")
    return redirect_next(pending["next"])


def end_user_session():
    """Sign out here: clear the session and the remember cookie."""
    session.clear()
    logout_user()  # after clear: it leaves the flag that deletes the remember cookie


def drop_expired_session():
    """End a session past its lifetime; a valid remember cookie may then sign the user in afresh."""
    session.clear()
    g.pop("_login_user", None)  # Flask-Login reloads the user (from the remember cookie, if any)


def session_expired():
    """Whether the signed-in session is older than its absolute lifetime."""
    started = session.get(SIGNED_IN_AT_KEY)
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    return not isinstance(started, int) or time.time() - started > lifetime
