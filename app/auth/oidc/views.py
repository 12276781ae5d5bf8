"""OpenID Connect sign-in views: start at the provider, come back to the callback."""

from flask import redirect, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth import bp
from app.auth.flow import SignInFailed, back_to_login, finish_sign_in, prepare_round_trip
from app.auth.forms import LoginForm
from app.auth.intent import back_to_account, requested_intent
from app.auth.outbound import sign_in_step
from app.auth.views import login_rate_limit
from app.extensions import limiter
from app.providers import oidc_provider

UNKNOWN_PROVIDER = "That sign-in provider is not offered here."


@bp.post("/login/oidc/<provider>")
@limiter.limit(login_rate_limit)
@sign_in_step
def oidc_start(provider: str) -> Response:
    """Remember where to go and remember-me, then send the visitor to the provider.

    A signed-in person may start here only from the account page (intent connect or reauth).
    """
    intent = requested_intent()
    if current_user.is_authenticated and intent is None:
        return redirect(url_for("main.index"))
    found = oidc_provider(provider)
    if found is None:
        return back_to_account(UNKNOWN_PROVIDER) if intent else back_to_login(UNKNOWN_PROVIDER)
    form = LoginForm()  # its CSRF token was checked by CSRFProtect
    refused = prepare_round_trip(intent, form.next.data, form.remember_me.data)
    if refused is not None:
        return refused
    from app.auth.oidc.client import begin_sign_in  # Authlib's parts that the start needs, on first use

    try:
        return begin_sign_in(found)
    except SignInFailed as exc:
        return back_to_login(str(exc))


@bp.get("/login/oidc/<provider>/callback")
@limiter.limit(login_rate_limit)  # each answer may make the server call the provider
@sign_in_step
def oidc_callback(provider: str) -> Response:
    """Check the provider's answer, then sign in the user behind (issuer, subject)."""
    found = oidc_provider(provider)
    if found is None:
        return back_to_login(UNKNOWN_PROVIDER)
    from app.auth.oidc.callback import complete_sign_in  # Authlib's client, joserfc, cryptography

    try:
        sign_in = complete_sign_in(found)
    except SignInFailed as exc:
        return back_to_login(str(exc))
    return finish_sign_in(sign_in)
