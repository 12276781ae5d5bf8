"""Views shared by both protocols: the login page, the "Choose your nickname" step, logout."""

from collections.abc import Mapping

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.auth import bp
from app.auth.devices import current_device, end_all_sessions
from app.auth.flow import (
    PENDING_KEY,
    PENDING_LIFETIME,
    NicknameTakenError,
    PendingSignIn,
    create_account,
    drop_pending,
    finish_pending_sign_in,
    load_pending,
    suggested_nickname,
)
from app.auth.forms import LoginForm, NicknameForm
from app.auth.history import SIGNED_OUT_EVERYWHERE, record_event
from app.auth.session import end_user_session
from app.providers import identity_label, oidc_providers, openid2_providers
from app.redirects import redirect_next

Page = Response | tuple[str, int]


def render_login(form: LoginForm, status: int = 200, openid_invalid: bool = False) -> Page:
    """Render the login page with the form as typed and every provider the site offers.

    openid_invalid marks the typed address as wrong: aria-invalid, described by the message, focused.
    """
    return render_template(
        "auth/login.html",
        form=form,
        providers=openid2_providers(),
        oidc_providers=oidc_providers(),
        openid_invalid=openid_invalid,
    ), status


def login_rate_limit() -> str:
    """The configured rate limit for starting a sign-in and for each provider answer."""
    return str(current_app.config["LOGIN_RATE_LIMIT"])


@bp.get("/login")
def login() -> Page:
    """Show the sign-in form."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    return render_login(LoginForm(next=request.args.get("next")))


# --- The first sign-in's "Choose your nickname" step -------------------------------------------------


def restart_sign_in() -> Response:
    """Back to the login page when there is no (longer a) sign-in waiting for a nickname."""
    expired = PENDING_KEY in session
    session.pop(PENDING_KEY, None)
    if expired:
        minutes = PENDING_LIFETIME // 60
        flash(f"Your sign-in waited more than {minutes} minutes. Please sign in again.", "info")
    else:
        flash("There is no sign-in waiting for a nickname. Please sign in.", "info")
    return redirect(url_for("auth.login"))


def render_nickname_step(form: NicknameForm, pending: PendingSignIn) -> str:
    """The "Choose your nickname" page for a pending first sign-in."""
    sign_in = pending["sign_in"]
    provider = identity_label(sign_in.issuer, sign_in.subject)
    return render_template("auth/choose_nickname.html", form=form, provider=provider)


@bp.get("/login/nickname")
def choose_nickname() -> Response | str:
    """Ask a first-time visitor to choose their nickname, with a suggestion filled in."""
    pending = load_pending()
    if pending is None:
        return restart_sign_in()
    return render_nickname_step(NicknameForm(nickname=suggested_nickname(pending["sign_in"])), pending)


@bp.post("/login/nickname")
def confirm_nickname() -> Response | str:
    """Create the account with the chosen nickname, then sign in."""
    pending = load_pending()
    if pending is None:
        return restart_sign_in()
    form = NicknameForm()
    if not form.validate():
        return render_nickname_step(form, pending)
    assert form.nickname.data is not None  # validate() refused a missing or empty nickname
    try:
        user = create_account(pending["sign_in"], form.nickname.data)
    except NicknameTakenError:
        # The stubs say Sequence: errors is a tuple before validation and a list after it.
        form.nickname.errors.append("Someone took that nickname a moment ago. Please choose another.")  # type: ignore[attr-defined]
        return render_nickname_step(form, pending)
    return finish_pending_sign_in(user, pending)


@bp.post("/login/nickname/cancel")
def cancel_nickname() -> Response:
    """Forget the pending sign-in; no account is created."""
    pending: Mapping[str, object] = drop_pending() or {}
    flash("Sign-in cancelled. No account was created.", "info")
    return redirect(url_for("auth.login", next=pending.get("next")))


# --- Signing out ----------------------------------------------------------------------------------


@bp.get("/logout")
def logout_page() -> str:
    """GET never signs anyone out; it offers the button instead."""
    return render_template("auth/logout.html")


@bp.post("/logout")
def logout() -> Response:
    """Sign out of this browser."""
    end_user_session()
    flash("You have been signed out.", "info")
    return redirect_next(request.form.get("next"))


@bp.get("/logout/everywhere")
@login_required
def logout_everywhere_page() -> str:
    """Ask before signing out every browser; GET changes nothing."""
    return render_template("auth/logout_everywhere.html")


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere() -> Response:
    """Sign out every browser: every device session of the account ends, with its remember cookie."""
    user = current_user.record()
    device = current_device()
    end_all_sessions(user)
    record_event(user.id, SIGNED_OUT_EVERYWHERE, device=device.user_agent if device else "")
    end_user_session(record=False)
    flash("You have been signed out on every device.", "info")
    return redirect(url_for("main.index"))
