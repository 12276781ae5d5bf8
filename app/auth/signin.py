"""What happens around a sign-in: intent kept across the round trip, session start, end."""

import time

from flask import current_app, g, session, url_for
from flask_login import login_user, logout_user

from app.auth.accounts import find_or_create_user
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
    """Sign the user in on a fresh session; nothing from before sign-in carries over."""
    session.clear()
    login_user(user, remember=remember, duration=current_app.config["REMEMBER_COOKIE_DURATION"])
    session.permanent = True
    session[SIGNED_IN_AT_KEY] = int(time.time())


def finish_sign_in(sign_in):
    """Find or create the user for a verified identity, sign in, go where they were going."""
    next_url = session.get(NEXT_KEY)
    remember = bool(session.get(REMEMBER_KEY))
    user = find_or_create_user(sign_in)
    start_user_session(user, remember)
    return redirect_next(next_url)


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
