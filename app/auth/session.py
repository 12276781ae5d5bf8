"""The signed-in session: starting it on a fresh cookie, its absolute lifetime, ending it."""

import time

from flask import current_app, g, session
from flask_login import login_user, logout_user

from app.auth.devices import create_device_session, current_device, end_device_session
from app.auth.history import DEVICE_SIGNED_OUT, SIGNED_IN, record_event
from app.extensions import db
from app.models import User
from app.moderation import record_sign_in

SIGNED_IN_AT_KEY = "signed_in_at"


def start_user_session(user: User, remember: bool, method: str = "") -> None:
    """Sign the user in on a fresh session and a new device session; nothing from before carries over.

    Without remember-me the session cookie lasts until the browser closes; with it,
    the cookie is kept (and the remember cookie restores the session later). `method`
    is the label of the sign-in method, kept with the device and in the security history.
    """
    session.clear()
    # One transaction for the sign-in's writes (with whatever the caller left pending, such as the
    # identity's last use): the device session, the security history and the count for `flask users list`.
    device = create_device_session(user, remember, method, commit=False)
    record_event(user.id, SIGNED_IN, method, device.user_agent, commit=False)
    record_sign_in(user, commit=False)
    login_user(user, remember=remember, duration=current_app.config["REMEMBER_COOKIE_DURATION"])
    session.permanent = bool(remember)
    session[SIGNED_IN_AT_KEY] = int(time.time())
    db.session.commit()  # last: committing expires the device, which login_user would then reload


def end_user_session(record: bool = True) -> None:
    """Sign out here: end this device session on the server, clear the session and the remember cookie."""
    device = current_device()
    if device is not None:
        end_device_session(device)
        if record:
            record_event(device.user_id, DEVICE_SIGNED_OUT, "Signed out", device.user_agent)
    session.clear()
    logout_user()  # after clear: it leaves the flag that deletes the remember cookie


def drop_expired_session() -> None:
    """End a session past its lifetime; a valid remember cookie may then sign the user in afresh."""
    session.clear()
    g.pop("_login_user", None)  # Flask-Login reloads the user (from the remember cookie, if any)


def session_expired() -> bool:
    """Whether the signed-in session is older than its absolute lifetime."""
    started = session.get(SIGNED_IN_AT_KEY)
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    return not isinstance(started, int) or time.time() - started > lifetime


def restart_session_clock() -> None:
    """A remember cookie just signed the user in again: the session's lifetime starts now."""
    session[SIGNED_IN_AT_KEY] = int(time.time())
