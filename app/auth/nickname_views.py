"""Views of the first sign-in's "Choose your nickname" step (any sign-in protocol)."""

from flask import flash, redirect, render_template, session, url_for

from app.auth import bp
from app.auth.forms import NicknameForm
from app.auth.labels import identity_label
from app.auth.pending import (
    PENDING_KEY,
    PENDING_LIFETIME,
    NicknameTakenError,
    create_account,
    drop_pending,
    load_pending,
    suggested_nickname,
)
from app.auth.signin import finish_pending_sign_in


def restart_sign_in():
    """Back to the login page when there is no (longer a) sign-in waiting for a nickname."""
    expired = PENDING_KEY in session
    session.pop(PENDING_KEY, None)
    if expired:
        minutes = PENDING_LIFETIME // 60
        flash(f"Your sign-in waited more than {minutes} minutes. Please sign in again.", "info")
    else:
        flash("There is no sign-in waiting for a nickname. Please sign in.", "info")
    return redirect(url_for("auth.login"))


def render_nickname_step(form, pending):
    """The "Choose your nickname" page for a pending first sign-in."""
    sign_in = pending["sign_in"]
    provider = identity_label(sign_in.issuer, sign_in.subject)
    return render_template("auth/choose_nickname.html", form=form, provider=provider)


@bp.get("/login/nickname")
def choose_nickname():
    """Ask a first-time visitor to choose their nickname, with a suggestion filled in."""
    pending = load_pending()
    if pending is None:
        return restart_sign_in()
    return render_nickname_step(NicknameForm(nickname=suggested_nickname(pending["sign_in"])), pending)


@bp.post("/login/nickname")
def confirm_nickname():
    """Create the account with the chosen nickname, then sign in."""
    pending = load_pending()
    if pending is None:
        return restart_sign_in()
    form = NicknameForm()
    if not form.validate():
        return render_nickname_step(form, pending)
    try:
        user = create_account(pending["sign_in"], form.nickname.data)
    except NicknameTakenError:
        form.nickname.errors.append("Someone took that nickname a moment ago. Please choose another.")
        return render_nickname_step(form, pending)
    return finish_pending_sign_in(user, pending)


@bp.post("/login/nickname/cancel")
def cancel_nickname():
    """Forget the pending sign-in; no account is created."""
    pending = drop_pending() or {}
    flash("Sign-in cancelled. No account was created.", "info")
    return redirect(url_for("auth.login", next=pending.get("next")))
