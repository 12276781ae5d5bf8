"""Provider round trips started from the account page: add a sign-in method, or confirm it's you.

A signed-in person starts one with a POST (and its CSRF token) carrying `intent=connect` or
`intent=reauth`. The start view keeps a marker in the session, bound to this user and this
browser's device session; `finish_sign_in` sees the marker and, instead of signing anyone in,
links the verified identity to the account (connect) or records that the person confirmed
it is them (reauth). An answer without the marker is an ordinary sign-in; a marker for another
user or another device session (signed out, revoked meanwhile) refuses the answer.
"""

from typing import Any

from flask import flash, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.auth.devices import current_device, mark_authenticated, recently_authenticated
from app.auth.history import CONFIRMED, METHOD_ADDED, record_event
from app.database import commit_unless_duplicate
from app.extensions import db
from app.models import Identity, utcnow
from app.providers import identity_label
from app.redirects import safe_next

INTENT_KEY = "account_intent"
CONNECT = "connect"
REAUTH = "reauth"
INTENTS = (CONNECT, REAUTH)
SIGNED_OUT_MEANWHILE = (
    "You were signed out before the provider answered, so nothing was changed. Please sign in again."
)


def requested_intent() -> str | None:
    """The account action a start form asks for (connect or reauth), or None for a plain sign-in."""
    value = request.form.get("intent")
    return value if value in INTENTS else None


def account_url() -> str:
    """Where account actions come back to."""
    return url_for("account.index")


def confirm_url(next_url: str | None = None) -> str:
    """The "Confirm it's you" page, returning to next_url afterwards."""
    return url_for("account.confirm", next=safe_next(next_url) or account_url())


def ask_to_confirm(next_url: str | None = None) -> Response:
    """Send the person to confirm it's them first, then back to next_url."""
    flash("For your security, please confirm it's you first: sign in again with one of your methods.", "info")
    return redirect(confirm_url(next_url))


def begin_intent(intent: str, next_url: str | None) -> Response | None:
    """Keep the marker for an account round trip; a redirect instead when it may not start."""
    device = current_device()
    if device is None:
        flash("Please sign in first.", "info")
        return redirect(url_for("auth.login"))
    if intent == CONNECT and not recently_authenticated():
        return ask_to_confirm(account_url())
    session[INTENT_KEY] = {
        "mode": intent,
        "user_id": current_user.id,
        "device": device.session_token,
        "next": safe_next(next_url),
    }
    return None


def intent_pending() -> bool:
    """Whether an account round trip (connect or reauth) is under way in this browser."""
    return isinstance(session.get(INTENT_KEY), dict)


def back_to_account(message: str, category: str = "error") -> Response:
    """End an account round trip: back to the account page (or the confirm page) with a message."""
    intent = session.pop(INTENT_KEY, None)
    flash(message, category)
    if isinstance(intent, dict) and intent.get("mode") == REAUTH:
        return redirect(confirm_url(intent.get("next")))
    return redirect(account_url())


def marker_problem(intent: Any) -> str | None:
    """Why a marker cannot be acted on here, or None when it belongs to this user on this device."""
    device = current_device()
    if device is None:
        return (
            "You were signed out before the provider answered, so nothing was changed. Please sign in again."
        )
    if (
        not isinstance(intent, dict)
        or intent.get("mode") not in INTENTS
        or intent.get("user_id") != current_user.id
        or intent.get("device") != device.session_token
    ):
        return "This answer does not belong to this browser's session, so nothing was changed."
    return None


def finish_intent(issuer: str, subject: str) -> Response:
    """Act on a verified identity for the account round trip under way (the marker is consumed)."""
    intent = session.get(INTENT_KEY)
    problem = marker_problem(intent)
    if problem is not None or not isinstance(intent, dict):
        session.pop(INTENT_KEY, None)
        if current_device() is None:
            flash(problem or SIGNED_OUT_MEANWHILE, "error")
            return redirect(url_for("auth.login"))
        return back_to_account(problem or "")
    if intent["mode"] == CONNECT:
        return finish_connect(issuer, subject)
    return finish_reauth(issuer, subject, intent.get("next"))


def identity_owner(issuer: str, subject: str) -> Identity | None:
    """The identity row for (issuer, subject), whoever it belongs to."""
    return db.session.scalars(
        select(Identity).where(Identity.issuer == issuer, Identity.subject == subject)
    ).first()


def finish_connect(issuer: str, subject: str) -> Response:
    """Link the identity to this account, unless it is already someone's (never merges accounts)."""
    label = identity_label(issuer, subject)
    existing = identity_owner(issuer, subject)
    if existing is not None and existing.user_id == current_user.id:
        return back_to_account(f"That {label} sign-in is already linked to your account.", "info")
    if existing is not None:
        return back_to_account(
            f"That {label} sign-in belongs to another Microblog account, so it was not added. "
            "Nothing was changed; accounts are never merged."
        )
    if not link_identity(current_user.id, issuer, subject):
        return back_to_account(f"That {label} sign-in was just linked elsewhere, so it was not added.")
    device = current_device()
    record_event(current_user.id, METHOD_ADDED, label, device.user_agent if device else "")
    return back_to_account(f"{label} was added: you can now sign in with it.", "success")


def link_identity(user_id: int, issuer: str, subject: str) -> bool:
    """Add the identity to the user; False when another request linked it first."""
    db.session.add(Identity(user_id=user_id, issuer=issuer, subject=subject, created_at=utcnow()))
    return commit_unless_duplicate()


def finish_reauth(issuer: str, subject: str, next_url: str | None) -> Response:
    """Accept a fresh sign-in as confirmation only if it is one of this account's own methods."""
    identity = identity_owner(issuer, subject)
    if identity is None or identity.user_id != current_user.id:
        return back_to_account(
            "That is not one of this account's sign-in methods. Please use one listed here."
        )
    session.pop(INTENT_KEY, None)
    identity.last_used_at = utcnow()
    device = current_device()
    assert device is not None  # checked by marker_problem
    mark_authenticated(device)
    record_event(current_user.id, CONFIRMED, identity_label(issuer, subject), device.user_agent)
    flash("Thank you: you can go on.", "success")
    return redirect(safe_next(next_url) or account_url())
