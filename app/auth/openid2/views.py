"""OpenID 2.0 sign-in views: start at the identifier the person chose, verify the provider's answer."""

import logging

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth import bp
from app.auth.flow import SignInFailed, VerifiedSignIn, back_to_login, finish_sign_in, prepare_round_trip
from app.auth.forms import IdentifierError, LoginForm, identifier_from_provider, normalise_identifier
from app.auth.intent import back_to_account, requested_intent
from app.auth.openid2.consumer import oid
from app.auth.outbound import sign_in_step
from app.auth.views import Page, login_rate_limit, render_login
from app.extensions import csrf, limiter
from app.providers import OPENID2_ISSUER, Provider, openid2_provider, openid2_providers

log = logging.getLogger(__name__)


def chosen_provider(form: LoginForm) -> Provider | None:
    """The provider button used (Enter in its username field counts), or None for a typed OpenID."""
    choice = request.form.get("provider")
    if choice is not None:
        provider = openid2_provider(choice)
        if provider is None:
            raise IdentifierError("That provider is not offered here.")
        return provider
    if not (form.openid.data or "").strip():
        # Enter pressed in a provider's username field submits with the default button.
        for provider in openid2_providers():
            if provider.needs_username and request.form.get(f"username-{provider.name}"):
                return provider
    return None


def requested_identifier(form: LoginForm, provider: Provider | None) -> str:
    """The identifier to sign in with: the provider button's, else the typed OpenID."""
    if provider is None:
        return normalise_identifier(form.openid.data)
    username = request.form.get(f"username-{provider.name}")
    return normalise_identifier(identifier_from_provider(provider.url, username))


def unreachable_message(provider: Provider | None) -> str:
    """Why the sign-in could not start: about the address typed, or about the provider button used."""
    if provider is None:
        return "We could not find an OpenID provider at that address. Check it and try again."
    return (
        f"We could not reach {provider.label} just now. Check your internet connection and try again, "
        "or sign in another way."
    )


@bp.post("/login")
@limiter.limit(login_rate_limit)
@sign_in_step
def start_login() -> Page:
    """Check the identifier, remember where to go, and send the visitor to the provider.

    A signed-in person may start here only from the account page (intent connect or reauth).
    """
    intent = requested_intent()
    if current_user.is_authenticated and intent is None:
        return redirect(url_for("main.index"))
    form = LoginForm()
    provider = None
    try:
        provider = chosen_provider(form)
        identifier = requested_identifier(form, provider)
    except IdentifierError as exc:
        if intent is not None:
            return back_to_account(str(exc))
        flash(str(exc), "error")
        return render_login(form, openid_invalid=provider is None)
    refused = prepare_round_trip(intent, form.next.data, form.remember_me.data)
    if refused is not None:
        return refused
    try:
        return redirect(oid.begin(identifier))
    except Exception as exc:  # noqa: BLE001 - any failure talking to a remote site
        log.info("OpenID discovery failed for %r: %s", identifier, exc)
        if intent is not None:
            return back_to_account(unreachable_message(provider))
        # The login page again, as typed: the address kept, marked and focused (or the provider named).
        flash(unreachable_message(provider), "error")
        return render_login(form, openid_invalid=provider is None)


@bp.route("/login/openid/complete", methods=["GET", "POST"])
@csrf.exempt  # the provider's answer is protected by its OpenID signature, not a CSRF token
@limiter.limit(login_rate_limit)  # each answer may make the server fetch from the provider
@sign_in_step
def openid_complete() -> Response:
    """Verify the provider's answer, then sign in the user behind that identity."""
    try:
        answer = oid.complete()
    except SignInFailed as exc:
        return back_to_login(str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure verifying a remote answer
        log.info("OpenID verification failed: %s", exc)
        return back_to_login("The provider's answer could not be verified. Please try again.")
    return finish_sign_in(VerifiedSignIn(OPENID2_ISSUER, answer.identity_url, answer.nickname, answer.email))
