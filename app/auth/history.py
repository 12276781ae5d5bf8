"""Security history: what happened to an account's sign-ins, shown to its owner only."""

from sqlalchemy import select

from app.extensions import db
from app.models import SecurityEvent, utcnow

HISTORY_LENGTH = 50  # events shown on the account page
SIGNED_IN = "signed_in"
CONFIRMED = "confirmed"
METHOD_ADDED = "method_added"
METHOD_REMOVED = "method_removed"
DEVICE_SIGNED_OUT = "device_signed_out"
NICKNAME_CHANGED = "nickname_changed"
SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
EVENT_LABELS = {
    SIGNED_IN: "Signed in",
    CONFIRMED: "Confirmed it was you",
    METHOD_ADDED: "Sign-in method added",
    METHOD_REMOVED: "Sign-in method removed",
    DEVICE_SIGNED_OUT: "Device signed out",
    NICKNAME_CHANGED: "Nickname changed",
    SIGNED_OUT_EVERYWHERE: "Signed out everywhere",
}


def record_event(user_id: int, kind: str, detail: str = "", device: str = "", commit: bool = True) -> None:
    """Add an event to the user's security history."""
    event = SecurityEvent(
        user_id=user_id, kind=kind, detail=detail[:255], device=device[:120], created_at=utcnow()
    )
    db.session.add(event)
    if commit:
        db.session.commit()


def recent_events(user_id: int, limit: int | None = HISTORY_LENGTH) -> list[SecurityEvent]:
    """The user's latest security events, newest first (all of them when limit is None)."""
    query = (
        select(SecurityEvent)
        .where(SecurityEvent.user_id == user_id)
        .order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc())
    )
    return list(db.session.scalars(query if limit is None else query.limit(limit)))


def event_label(kind: str) -> str:
    """The person-readable name of an event kind."""
    return EVENT_LABELS.get(kind, kind.replace("_", " ").capitalize())
