"""Device sessions: every sign-in is a row in user_session that the cookies point to.

The session cookie and the remember cookie carry the row's random `session_token` (Flask-Login's
user id, see User.get_id), so deleting the row signs that browser out at once. `end_all_sessions`
signs a user out everywhere (sign out everywhere, account deletion, suspension).
"""

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, request
from flask_login import UserMixin, current_user
from sqlalchemy import String, bindparam, delete, select, update

from app.database import read_once, rows_affected
from app.extensions import db
from app.models import User, UserSession, as_utc, new_session_token, utcnow
from app.shared_cache import remember_content_version, version_column

BROWSERS = (  # checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari"
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests/", "Python requests"),
)
SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
UNKNOWN_DEVICE = "Unknown browser"
_HEADLESS = re.compile(r"Headless", re.I)


def describe_user_agent(user_agent: str | None) -> str:
    """A short description such as "Firefox on Linux" from a User-Agent header; never the raw header."""
    text = user_agent or ""
    browser = next((name for token, name in BROWSERS if token in text), None)
    if browser is not None and _HEADLESS.search(text):
        browser = f"{browser} (headless)"
    system = next((name for token, name in SYSTEMS if token in text), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else UNKNOWN_DEVICE)


def session_expiry(remember: bool) -> datetime:
    """When a new device session ends: with remember-me the remember cookie's life, else the session's."""
    setting = "REMEMBER_COOKIE_DURATION" if remember else "PERMANENT_SESSION_LIFETIME"
    return utcnow() + current_app.config[setting]


def create_device_session(user: User, remember: bool, method: str, commit: bool = True) -> UserSession:
    """Record a new sign-in of this browser for the user and attach it to the user object."""
    now = utcnow()
    device = UserSession(
        session_token=new_session_token(),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        authenticated_at=now,
        expires_at=session_expiry(remember),
        user_agent=describe_user_agent(request.headers.get("User-Agent"))[:120],
        method=method[:255],
    )
    db.session.add(device)
    if commit:
        db.session.commit()
    user.device = device
    return device


class SignedInDevice:
    """This browser's device session as the request read it: a plain copy of its user_session row."""

    id: int
    session_token: str
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    authenticated_at: datetime
    expires_at: datetime
    user_agent: str
    method: str


# A device session as code that reads or ends it sees it: the plain copy, or the ORM row at sign-in.
Device = SignedInDevice | UserSession


class SignedInUser(UserMixin):
    """The signed-in person for one request: a plain copy of their user row, with this device.

    Not an ORM object: a page view needs no identity map or change tracking, and making the ORM
    pair cost more than the query itself. Code that changes the account works on `record()`.
    """

    id: int
    nickname: str
    email: str | None
    created_at: datetime
    session_token: str
    suspended_at: datetime | None
    sign_in_count: int
    last_sign_in_at: datetime | None
    post_count: int
    device: SignedInDevice

    def get_id(self) -> str:
        """Flask-Login's id: this browser's device session token (see User.get_id)."""
        return self.device.session_token

    def record(self) -> User:
        """The user as an ORM object in this request's database session, to change and commit."""
        return db.session.get_one(User, self.id)


# Which columns each plain copy holds: the fields its class declares, nothing else.
USER_FIELDS = tuple(name for name in SignedInUser.__annotations__ if name != "device")
DEVICE_FIELDS = tuple(SignedInDevice.__annotations__)

# The user, their device session and the content version (for the shared cache's keys), in one
# Core query built once: building it for every request cost more than running it.
USER_AND_DEVICE = (
    select(
        *(User.__table__.c[name] for name in USER_FIELDS),
        *(UserSession.__table__.c[name] for name in DEVICE_FIELDS),
        version_column(),
    )
    .join_from(User.__table__, UserSession.__table__, UserSession.user_id == User.id)
    .where(
        UserSession.session_token == bindparam("token", type_=String),
        UserSession.expires_at > bindparam("now", type_=UserSession.expires_at.type),
    )
)


def signed_in_user(row: Sequence[Any]) -> SignedInUser:
    """The plain user and device from one row of USER_AND_DEVICE."""
    user, device = SignedInUser(), SignedInDevice()
    user.__dict__.update(zip(USER_FIELDS, row, strict=False))
    device.__dict__.update(zip(DEVICE_FIELDS, row[len(USER_FIELDS) :], strict=False))
    user.device = device
    return user


def load_user_and_device(token: str) -> SignedInUser | None:
    """The signed-in user for a cookie's token, with its device session attached: one query.

    It runs outside the request's ORM session (which a cached page view then never opens). The
    same query reads the content version for the shared cache's keys.
    """
    row = read_once(USER_AND_DEVICE, {"token": token, "now": utcnow()})
    if row is None:
        return None
    user = signed_in_user(row)
    remember_content_version(row[-1])
    note_activity(user.device)
    return user


def note_activity(device: SignedInDevice) -> None:
    """Move the device's "last active" forward, at most once per DEVICE_SEEN_INTERVAL."""
    interval = timedelta(seconds=current_app.config["DEVICE_SEEN_INTERVAL"])
    now = utcnow()
    if now - as_utc(device.last_seen_at) < interval:
        return
    # On its own connection: the request's session and its loaded objects stay as they are.
    with db.engine.begin() as connection:
        connection.execute(update(UserSession).where(UserSession.id == device.id).values(last_seen_at=now))


def current_device() -> Device | None:
    """This browser's device session, or None when nobody is signed in."""
    if not current_user.is_authenticated:
        return None
    return getattr(current_user._get_current_object(), "device", None)


def recently_authenticated() -> bool:
    """Whether this browser's sign-in (or confirmation) happened within REAUTH_MAX_AGE."""
    device = current_device()
    if device is None:
        return False
    age = utcnow() - as_utc(device.authenticated_at)
    return timedelta(0) <= age <= timedelta(seconds=current_app.config["REAUTH_MAX_AGE"])


def mark_authenticated(device: Device) -> None:
    """The person just proved it is them again on this device."""
    now = utcnow()
    db.session.execute(update(UserSession).where(UserSession.id == device.id).values(authenticated_at=now))
    db.session.commit()
    device.authenticated_at = now


def active_devices(user_id: int) -> list[UserSession]:
    """The user's unexpired device sessions, most recently active first."""
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user_id, UserSession.expires_at > utcnow())
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def find_device(user_id: int, device_id: int) -> UserSession | None:
    """One of this user's device sessions by its row id, or None (never another user's)."""
    return db.session.scalars(
        select(UserSession).where(UserSession.id == device_id, UserSession.user_id == user_id)
    ).first()


def end_device_session(device: Device) -> None:
    """Sign that device out on the server: its cookies stop working at once."""
    db.session.execute(delete(UserSession).where(UserSession.id == device.id))
    db.session.commit()


def end_other_sessions(user_id: int, keep: Device) -> int:
    """Sign out every device of the user except `keep`; returns how many were signed out."""
    result = db.session.execute(
        delete(UserSession).where(UserSession.user_id == user_id, UserSession.id != keep.id)
    )
    db.session.commit()
    return rows_affected(result)


def end_all_sessions(user: User) -> int:
    """Sign the user out on every device: end every device session and void old-style tokens."""
    result = db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    user.session_token = new_session_token()
    db.session.commit()
    return rows_affected(result)


def remove_expired_sessions() -> int:
    """Delete device sessions past their expiry (housekeeping); returns how many."""
    result = db.session.execute(delete(UserSession).where(UserSession.expires_at <= utcnow()))
    db.session.commit()
    return rows_affected(result)
