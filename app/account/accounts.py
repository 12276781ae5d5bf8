"""What the account page shows and does: methods, devices, export, deletion."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from app.auth.devices import active_devices
from app.auth.history import event_label, recent_events
from app.extensions import db
from app.models import Identity, Post, SecurityEvent, User, UserSession, as_utc
from app.providers import OPENID2_ISSUER, Provider, identity_label, oidc_providers, provider_of
from app.shared_cache import bump_content_version


@dataclass(frozen=True)
class Method:
    """A sign-in method as its owner sees it."""

    id: int
    label: str
    identifier: str  # shown to the owner only
    protocol: str
    added_at: datetime
    last_used_at: datetime | None
    oidc_provider: Provider | None  # the site's OIDC provider to confirm with, when offered


def methods_of(user_id: int) -> list[Method]:
    """The user's sign-in methods, oldest first."""
    rows = db.session.scalars(select(Identity).where(Identity.user_id == user_id).order_by(Identity.id))
    offered = oidc_providers()
    return [
        Method(
            id=row.id,
            label=identity_label(row.issuer, row.subject),
            identifier=row.subject if row.issuer == OPENID2_ISSUER else f"{row.subject} at {row.issuer}",
            protocol="OpenID 2.0" if row.issuer == OPENID2_ISSUER else "OpenID Connect",
            added_at=row.created_at,
            last_used_at=row.last_used_at,
            oidc_provider=None
            if row.issuer == OPENID2_ISSUER
            else provider_of(row.issuer, row.subject, offered),
        )
        for row in rows
    ]


def find_identity(user_id: int, identity_id: int) -> Identity | None:
    """One of this user's identities by id, or None (never another user's)."""
    return db.session.scalars(
        select(Identity).where(Identity.id == identity_id, Identity.user_id == user_id)
    ).first()


def count_identities(user_id: int) -> int:
    """How many sign-in methods the user has."""
    return len(db.session.scalars(select(Identity.id).where(Identity.user_id == user_id)).all())


def remove_identity(identity: Identity) -> None:
    """Unlink a sign-in method."""
    db.session.delete(identity)
    db.session.commit()


def stamp(moment: datetime | None) -> str | None:
    """A time as ISO 8601 UTC for the export."""
    return as_utc(moment).isoformat(timespec="seconds") if moment is not None else None


def export_data(user: User) -> dict[str, Any]:
    """Everything the site keeps about the user, as JSON-able data (no raw identifiers, no tokens)."""
    posts = db.session.scalars(select(Post).where(Post.user_id == user.id).order_by(Post.timestamp, Post.id))
    return {
        "profile": {"nickname": user.nickname, "email": user.email, "joined": stamp(user.created_at)},
        "sign_in_methods": [
            {"label": m.label, "added": stamp(m.added_at), "last_used": stamp(m.last_used_at)}
            for m in methods_of(user.id)
        ],
        "posts": [{"body": p.body, "timestamp": stamp(p.timestamp)} for p in posts],
        "devices": [
            {
                "description": d.user_agent,
                "sign_in_method": d.method,
                "signed_in": stamp(d.created_at),
                "last_active": stamp(d.last_seen_at),
            }
            for d in active_devices(user.id)
        ],
        "history": [
            {"event": event_label(e.kind), "detail": e.detail, "device": e.device, "at": stamp(e.created_at)}
            for e in recent_events(user.id, limit=None)
        ],
    }


def delete_account(user_id: int) -> None:
    """Remove the user and everything that is theirs: posts, identities, sessions, history."""
    for model in (SecurityEvent, UserSession, Post, Identity):
        db.session.execute(delete(model).where(model.user_id == user_id))
    db.session.execute(delete(User).where(User.id == user_id))
    bump_content_version()  # their posts leave every page
    db.session.commit()
