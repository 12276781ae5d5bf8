"""OpenID Connect sign-in, second half, on Authlib's Flask client: token request, strict ID token checks.

Importing this loads Authlib's client, joserfc and cryptography: only a callback does.
"""

import re
from collections.abc import Mapping
from typing import Any

from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app, request
from joserfc.errors import JoseError

from app.auth.flow import SignInFailed, VerifiedSignIn
from app.auth.oidc.client import (
    SCOPES,
    auth_method,
    claims_options,
    log,
    provider_metadata,
    reach_failure_message,
)
from app.extensions import oauth
from app.fetcher import policy_from_config, safe_session_class
from app.nicknames import first_nickname
from app.providers import Provider
from app.text import clean_email

PROFILE_CLAIMS = ("preferred_username", "nickname", "name", "email", "email_verified")
SUBJECT_MAX = 255  # OpenID Connect Core 2: sub is at most 255 ASCII characters
ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class AnswerRejected(Exception):  # noqa: N818 - an outcome, not a programming error
    """A provider's answer failed a check that Authlib does not make; str(exc) says which."""


# --- Authlib client with SSRF-safe HTTP and pinned checks -----------------------------------------


class CheckedOAuth2App(FlaskOAuth2App):
    """Authlib's Flask client for one provider, on the checked discovery document the start used.

    Subclasses (see client_class) set client_cls to an SSRF-safe OAuth2Session, plus the provider.
    The document (app.auth.oidc.client.provider_metadata) is fetched again once OIDC_METADATA_TTL
    old; Authlib caches the JWKS in it, and fetches it again, once, when a token names a key id
    it does not hold.
    """

    provider: Provider

    def load_server_metadata(self) -> dict[str, Any]:
        metadata = provider_metadata(self.provider)
        if metadata is not self.server_metadata:
            self.client_kwargs = dict(self.client_kwargs, token_endpoint_auth_method=auth_method(metadata))
            self.server_metadata = metadata
        return metadata


def client_class(provider: Provider, config: Mapping[str, Any]) -> type[CheckedOAuth2App]:
    """A CheckedOAuth2App subclass bound to this provider and the app's fetch policy."""
    session_cls = safe_session_class(OAuth2Session, policy_from_config(config))
    return type("SafeOAuth2App", (CheckedOAuth2App,), {"client_cls": session_cls, "provider": provider})


def client_for(provider: Provider) -> CheckedOAuth2App:
    """The Authlib client for a provider, registered with the current app's registry on first use."""
    client = oauth.create_client(provider.name)
    if client is None:
        client = oauth.register(
            provider.name,
            client_cls=client_class(provider, current_app.config),
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=provider.metadata_url,
            client_kwargs={"scope": SCOPES, "code_challenge_method": "S256"},
        )
    return client


# --- The callback ---------------------------------------------------------------------------------


def complete_sign_in(provider: Provider) -> VerifiedSignIn:
    """Check the provider's answer completely and return who signed in."""
    client = client_for(provider)
    try:
        check_issuer_parameter(provider)
        token = client.authorize_access_token(claims_options=claims_options(provider))
        claims = token.get("userinfo")
        if not claims:
            raise AnswerRejected("the token response has no ID token")
        if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= SUBJECT_MAX:
            raise AnswerRejected("the ID token's subject is not a string of 1 to 255 characters")
    except Exception as exc:  # noqa: BLE001 - every failure becomes a plain message
        raise SignInFailed(failure_message(provider, exc)) from exc
    profile = profile_claims(client, token, claims)
    return VerifiedSignIn(
        issuer=claims["iss"],
        subject=claims["sub"],
        nickname=first_nickname(
            profile.get("preferred_username"), profile.get("nickname"), profile.get("name")
        ),
        email=profile_email(profile),
    )


def check_issuer_parameter(provider: Provider) -> None:
    """RFC 9207: an `iss` in the answer must be this provider's (stops mix-up attacks)."""
    iss = request.args.get("iss")
    if iss is not None and provider.issuer_template is None and iss != provider.issuer:
        raise AnswerRejected(f"the answer names another issuer ({iss!r})")


def profile_claims(
    client: CheckedOAuth2App, token: Mapping[str, Any], claims: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The ID token's claims, with profile claims from the UserInfo endpoint when it has none.

    Per OpenID Connect Core 5.3.2, UserInfo is used only when its `sub` equals the ID token's.
    Profile data is optional, so any failure here leaves the ID token's claims as they are.
    """
    if any(claims.get(name) for name in PROFILE_CLAIMS):
        return claims
    if not client.load_server_metadata().get("userinfo_endpoint"):
        return claims
    try:
        info = client.userinfo(token=token)
    except Exception as exc:  # noqa: BLE001 - profile data is optional
        log.info("UserInfo from %s failed: %s", client.provider.issuer, exc)
        return claims
    if info.get("sub") != claims["sub"]:
        log.warning("UserInfo from %s names another subject; ignoring it", client.provider.issuer)
        return claims
    return {**{name: info[name] for name in PROFILE_CLAIMS if name in info}, **claims}


def profile_email(profile: Mapping[str, Any]) -> str | None:
    """The email as profile data, unless the provider says it is unverified. Never used to find users."""
    if profile.get("email_verified") is False:
        return None
    return clean_email(profile.get("email"))


def failure_message(provider: Provider, exc: Exception) -> str:
    """A plain message for why a callback failed; details go to the log."""
    label = provider.label
    reached = reach_failure_message(provider, exc)  # logs the failure, as a failed start does
    if isinstance(exc, MismatchingStateError):
        return "This sign-in has expired or was started in another browser. Please start again."
    if isinstance(exc, OAuthError) and exc.error == "access_denied":
        return f"Signing in with {label} was cancelled."
    if isinstance(exc, OAuthError):
        code = exc.error if isinstance(exc.error, str) and ERROR_CODE.match(exc.error) else "error"
        return f"{label} did not complete the sign-in ({code}). Please try again."
    if isinstance(exc, JoseError | AnswerRejected):
        return f"The answer from {label} could not be verified, so you were not signed in."
    if reached is not None:
        return reached
    log.warning("Unexpected OpenID Connect failure with %s", provider.issuer, exc_info=exc)
    return f"Signing in with {label} did not work. Please try again."
