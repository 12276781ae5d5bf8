"""Views for signing in with OpenID 2.0 and signing out."""

import logging

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.auth import bp
from app.auth.accounts import VerifiedSignIn
from app.auth.forms import IdentifierError, LoginForm, identifier_from_provider, normalise_identifier
from app.auth.oidc import configured_providers
from app.auth.signin import (
    end_user_session,
    finish_sign_in,
    login_page_url,
    remember_intent,
)
from app.extensions import csrf, db, limiter, oid
from app.models import OPENID2_ISSUER, new_session_token
from app.openid_client import SignInError
from app.redirects import redirect_next

log = logging.getLogger(__name__)


def provider_buttons():
    """The configured OpenID 2.0 providers, with the local one resolved to this site."""
    buttons = []
    for index, provider in enumerate(current_app.config["OPENID_PROVIDERS"]):
        url = provider["url"]
        if url == "local":
            if not current_app.config["DEV_OPENID_PROVIDER"]:
                continue
            url = url_for("devprovider.op_identifier", _external=True) + "<username>"
        buttons.append(
            {"index": index, "name": provider["name"], "url": url, "needs_username": "<username>" in url}
        )
    return buttons


def requested_identifier(form):
    """The identifier to sign in with: a provider button, else the typed OpenID."""
    choice = request.form.get("provider")
    if choice is not None:
        for button in provider_buttons():
            if str(button["index"]) == choice:
                username = request.form.get(f"username-{choice}")
                return normalise_identifier(identifier_from_provider(button["url"], username))
        raise IdentifierError("That provider is not offered here.")
    if not (form.openid.data or "").strip():
        # Enter pressed in a provider's username field submits with the default button.
        for button in provider_buttons():
            username = request.form.get(f"username-{button['index']}")
            if button["needs_username"] and username:
                return normalise_identifier(identifier_from_provider(button["url"], username))
    return normalise_identifier(form.openid.data)


def render_login(form, status=200):
    """Render the login page with the form as typed."""
    return render_template(
        "auth/login.html", form=form, providers=provider_buttons(), oidc_providers=configured_providers()
    ), status


def login_rate_limit():
    """The configured rate limit for starting a sign-in."""
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.get("/login")
def login():
    """Show the sign-in form."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    return render_login(LoginForm(next=request.args.get("next")))


@bp.post("/login")
@limiter.limit(login_rate_limit)
def start_login():
    """Check the identifier, remember where to go, and send the visitor to the provider."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    try:
        identifier = requested_identifier(form)
    except IdentifierError as exc:
        flash(str(exc), "error")
        return render_login(form)
    remember_intent(form.next.data, form.remember_me.data)
    try:
        return redirect(oid.begin(identifier))
    except Exception as exc:  # noqa: BLE001 - any failure talking to a remote site
        log.info("OpenID discovery failed for %r: %s", identifier, exc)
        flash("We could not find an OpenID provider at that address. Check it and try again.", "error")
        return redirect(login_page_url())


@bp.route("/login/openid/complete", methods=["GET", "POST"])
@csrf.exempt  # the provider's answer is protected by its OpenID signature, not a CSRF token
@limiter.limit(login_rate_limit)  # each answer may make the server fetch from the provider
def openid_complete():
    """Verify the provider's answer, then sign in the user behind that identity."""
    try:
        answer = oid.complete()
    except SignInError as exc:
        flash(str(exc), "error")
        return redirect(login_page_url())
    except Exception as exc:  # noqa: BLE001 - any failure verifying a remote answer
        log.info("OpenID verification failed: %s", exc)
        flash("The provider's answer could not be verified. Please try again.", "error")
        return redirect(login_page_url())
    sign_in = VerifiedSignIn(OPENID2_ISSUER, answer.identity_url, answer.nickname, answer.email)
    return finish_sign_in(sign_in)


@bp.get("/logout")
def logout_page():
    """GET never signs anyone out; it offers the button instead."""
    return render_template("auth/logout.html")


@bp.post("/logout")
def logout():
    """Sign out of this browser."""
    end_user_session()
    flash("You have been signed out.", "info")
    return redirect_next(request.form.get("next"))


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere():
    """Sign out every browser: a new session token voids all sessions and remember cookies."""
    current_user.session_token = new_session_token()
    db.session.commit()
    end_user_session()
    flash("You have been signed out on every device.", "info")
    return redirect(url_for("main.index"))
