"""OpenID Connect sign-in on Authlib's Flask client: safe HTTP, checked discovery, strict ID token checks."""

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app, request, session, url_for
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from app.auth.flow import SignInFailed, VerifiedSignIn
from app.extensions import oauth
from app.fetcher import FetchRefused, policy_from_config, safe_session_class
from app.nicknames import first_nickname
from app.providers import Provider
from app.text import clean_email

log = logging.getLogger(__name__)

SCOPES = "openid email profile"
# Asymmetric algorithms only: never "none", never HS* (which would key the HMAC with a public key).
ALLOWED_ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
DEFAULT_ID_TOKEN_ALG = "RS256"  # noqa: S105 - an algorithm name; Discovery's default when none is listed
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
PROFILE_CLAIMS = ("preferred_username", "nickname", "name", "email", "email_verified")
SUBJECT_MAX = 255  # OpenID Connect Core 2: sub is at most 255 ASCII characters
MAX_PENDING_SIGN_INS = 3  # per browser; each costs about 200 bytes of session cookie
STATE_KEY_PREFIX = "_state_"  # Authlib keeps each pending sign-in in the session under this prefix
ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class ProviderError(Exception):
    """A provider's discovery document cannot be used; str(exc) says why."""


class AnswerRejected(Exception):  # noqa: N818 - an outcome, not a programming error
    """A provider's answer failed a check that Authlib does not make; str(exc) says which."""


# --- Authlib client with SSRF-safe HTTP and pinned checks -----------------------------------------


class CheckedOAuth2App(FlaskOAuth2App):
    """Authlib's Flask client for one provider: checked discovery with a TTL and pinned algorithms.

    Subclasses (see client_class) set client_cls to an SSRF-safe OAuth2Session, plus the provider
    and the metadata lifetime. The JWKS is cached with the discovery document; Authlib fetches it
    again, once, when a token names a key id it does not hold.
    """

    provider: Provider
    metadata_ttl: float = 24 * 3600

    def load_server_metadata(self) -> dict[str, Any]:
        metadata = self.server_metadata
        if "_loaded_at" in metadata and time.time() - metadata["_loaded_at"] < self.metadata_ttl:
            return metadata
        # _get_session and _server_metadata_url are Authlib's own (private, so not in types-Authlib).
        with self._get_session() as session:  # type: ignore[attr-defined]
            response = session.request("GET", self._server_metadata_url, withhold_token=True)  # type: ignore[attr-defined]
            response.raise_for_status()
            document = response.json()
        metadata = checked_metadata(document, self.provider)
        self.client_kwargs = dict(self.client_kwargs, token_endpoint_auth_method=auth_method(metadata))
        metadata["_loaded_at"] = time.time()
        self.server_metadata = metadata  # replaced whole, so the cached JWKS goes with it
        return metadata


def checked_metadata(document: object, provider: Provider) -> dict[str, Any]:
    """The discovery document, refused unless usable, with the ID token algorithms pinned."""
    if not isinstance(document, dict):
        raise ProviderError("its discovery document is not a JSON object")
    if not provider.accepts_metadata_issuer(document.get("issuer")):
        raise ProviderError(f"its discovery document names another issuer ({document.get('issuer')!r})")
    schemes = endpoint_schemes(provider.issuer)
    for key in REQUIRED_ENDPOINTS:
        value = document.get(key)
        if not isinstance(value, str) or not value.startswith(schemes):
            raise ProviderError(f"its discovery document has no usable {key}")
    userinfo = document.get("userinfo_endpoint")
    if userinfo is not None and (not isinstance(userinfo, str) or not userinfo.startswith(schemes)):
        raise ProviderError("its discovery document has no usable userinfo_endpoint")
    metadata = {k: v for k, v in document.items() if k != "jwks"}  # keys come only from jwks_uri
    advertised = document.get("id_token_signing_alg_values_supported")
    advertised = advertised if isinstance(advertised, list) else []
    metadata["id_token_signing_alg_values_supported"] = [
        a for a in advertised if a in ALLOWED_ID_TOKEN_ALGS
    ] or [DEFAULT_ID_TOKEN_ALG]
    return metadata


def endpoint_schemes(issuer: str) -> tuple[str, ...]:
    """Endpoint URL prefixes allowed: https only for an https issuer, and always unless private hosts are."""
    if issuer.startswith("https://") or not current_app.config.get("OPENID_ALLOW_PRIVATE_HOSTS"):
        return ("https://",)
    return ("https://", "http://")


def auth_method(metadata: Mapping[str, Any]) -> str:
    """client_secret_basic, unless the provider says it takes only client_secret_post."""
    methods = metadata.get("token_endpoint_auth_methods_supported")
    if isinstance(methods, list) and "client_secret_basic" not in methods and "client_secret_post" in methods:
        return "client_secret_post"
    return "client_secret_basic"


def client_class(provider: Provider, config: Mapping[str, Any]) -> type[CheckedOAuth2App]:
    """A CheckedOAuth2App subclass bound to this provider, the app's fetch policy and metadata TTL."""
    session_cls = safe_session_class(OAuth2Session, policy_from_config(config))
    attrs = {
        "client_cls": session_cls,
        "provider": provider,
        "metadata_ttl": float(config["OIDC_METADATA_TTL"]),
    }
    return type("SafeOAuth2App", (CheckedOAuth2App,), attrs)


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


def claims_options(provider: Provider) -> dict[str, dict[str, Any]]:
    """ID token claim rules: exact issuer, audience equal to our client id, a subject.

    Passing claims_options replaces Authlib's default issuer check, and Authlib checks `aud`
    only through `azp` on its own, so both are stated here. Expiry, nonce, azp and at_hash are
    checked by Authlib in any case.
    """
    if provider.issuer_template is None:
        iss = {"essential": True, "values": [provider.issuer]}
    else:
        iss = {"essential": True, "validate": lambda claims, value: provider.accepts_issuer(value, claims)}
    return {"iss": iss, "aud": {"essential": True, "value": provider.client_id}, "sub": {"essential": True}}


# --- The two halves of sign-in --------------------------------------------------------------------


def callback_url(provider: Provider) -> str:
    """Where the provider sends the person back (register exactly this with the provider)."""
    return url_for("auth.oidc_callback", provider=provider.name, _external=True)


def begin_sign_in(provider: Provider) -> Response:
    """Redirect to the provider with PKCE (S256), state and nonce kept in this browser's session."""
    forget_older_sign_ins()
    try:
        return client_for(provider).authorize_redirect(callback_url(provider))
    except Exception as exc:  # noqa: BLE001 - any failure reaching the provider
        raise SignInFailed(failure_message(provider, exc)) from exc


def forget_older_sign_ins(keep: int = MAX_PENDING_SIGN_INS - 1) -> None:
    """Keep only the newest pending sign-ins, so repeated starts cannot outgrow the session cookie."""
    pending = [key for key in session if key.startswith(STATE_KEY_PREFIX)]
    pending.sort(key=lambda key: session[key].get("exp", 0) if isinstance(session[key], dict) else 0)
    for key in pending[: max(len(pending) - keep, 0)]:
        session.pop(key)


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
    """A plain message for why sign-in with a provider failed; details go to the log."""
    label = provider.label
    log.info("OpenID Connect sign-in with %s failed: %s: %s", provider.issuer, type(exc).__name__, exc)
    if isinstance(exc, MismatchingStateError):
        return "This sign-in has expired or was started in another browser. Please start again."
    if isinstance(exc, OAuthError) and exc.error == "access_denied":
        return f"Signing in with {label} was cancelled."
    if isinstance(exc, OAuthError):
        code = exc.error if isinstance(exc.error, str) and ERROR_CODE.match(exc.error) else "error"
        return f"{label} did not complete the sign-in ({code}). Please try again."
    if isinstance(exc, JoseError | AnswerRejected):
        return f"The answer from {label} could not be verified, so you were not signed in."
    if isinstance(exc, FetchRefused | requests.RequestException):
        return f"We could not reach {label} just now. Please try again later."
    if isinstance(exc, ProviderError):
        return f"{label} cannot be used for sign-in: {exc}."
    log.warning("Unexpected OpenID Connect failure with %s", provider.issuer, exc_info=exc)
    return f"Signing in with {label} did not work. Please try again."
