"""OpenID Connect sign-in: checked discovery and the start, without loading the token code.

The start needs the discovery document and Authlib's state, nonce and PKCE values, not the
ID-token check. Authlib's Flask client imports joserfc and cryptography's compiled core (about
10 MB a worker) as soon as it is imported, so the start builds its redirect from Authlib's own
parts (`generate_token`, `create_s256_code_challenge`, `prepare_grant_uri`) exactly as
`FlaskOAuth2App.authorize_redirect` does, and keeps the pending sign-in in the session the way
Authlib's Flask integration reads it at the callback (app/auth/oidc/callback.py, Authlib's client),
where every check of the answer runs. tests/test_oidc_setup.py compares the two for the same
random values.
"""

import logging
import time
from collections.abc import Mapping
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.consts import default_user_agent
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import current_app, redirect, session, url_for
from werkzeug.wrappers import Response

from app.auth.flow import SignInFailed
from app.fetcher import FetchRefused, policy_from_config, safe_session_class
from app.providers import Provider

log = logging.getLogger(__name__)  # both halves of a sign-in log here (callback.py too)

SCOPES = "openid email profile"
CODE_CHALLENGE_METHOD = "S256"
# Asymmetric algorithms only: never "none", never HS* (which would key the HMAC with a public key).
ALLOWED_ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
DEFAULT_ID_TOKEN_ALG = "RS256"  # noqa: S105 - an algorithm name; Discovery's default when none is listed
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
MAX_PENDING_SIGN_INS = 3  # per browser; each costs about 200 bytes of session cookie
STATE_KEY_PREFIX = "_state_"  # Authlib keeps each pending sign-in in the session under this prefix
STATE_LIFETIME = 3600  # seconds, as Authlib's FrameworkIntegration.expires_in
# Authorization parameters Authlib's OAuth2Client copies from its metadata when present.
EXTRA_AUTHORIZE_PARAMS = ("response_mode", "prompt", "login_hint")
METADATA_EXTENSION = "microblog_oidc_metadata"  # per app: provider name -> checked discovery document


class ProviderError(Exception):
    """A provider's discovery document cannot be used; str(exc) says why."""


# --- discovery ------------------------------------------------------------------------------------


def provider_metadata(provider: Provider) -> dict[str, Any]:
    """The provider's checked discovery document, fetched again once it is OIDC_METADATA_TTL old.

    One dict per provider and app, shared with Authlib's client at the callback, which caches the
    JWKS in it (so the keys are fetched again with a new document).
    """
    documents: dict[str, dict[str, Any]] = current_app.extensions.setdefault(METADATA_EXTENSION, {})
    metadata = documents.get(provider.name)
    ttl = float(current_app.config["OIDC_METADATA_TTL"])
    if metadata is not None and time.time() - metadata["_loaded_at"] < ttl:
        return metadata
    metadata = checked_metadata(fetch_discovery(provider), provider)
    metadata["_loaded_at"] = time.time()
    documents[provider.name] = metadata  # replaced whole, so the cached JWKS goes with the old one
    return metadata


def fetch_discovery(provider: Provider) -> object:
    """The provider's discovery document, fetched through the safe adapter as Authlib's client would."""
    session_cls = safe_session_class(requests.Session, policy_from_config(current_app.config))
    with session_cls() as http:
        http.headers["User-Agent"] = default_user_agent
        response = http.get(provider.metadata_url)
        response.raise_for_status()
        return response.json()


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


# --- the redirect ---------------------------------------------------------------------------------


def callback_url(provider: Provider) -> str:
    """Where the provider sends the person back (register exactly this with the provider)."""
    return url_for("auth.oidc_callback", provider=provider.name, _external=True)


def begin_sign_in(provider: Provider) -> Response:
    """Redirect to the provider with PKCE (S256), state and nonce kept in this browser's session."""
    forget_older_sign_ins()
    try:
        metadata = provider_metadata(provider)
        pending = authorization_request(provider, metadata, callback_url(provider))
    except Exception as exc:  # noqa: BLE001 - any failure reaching the provider
        raise SignInFailed(start_failure_message(provider, exc)) from exc
    state = pending.pop("state")
    session[f"{STATE_KEY_PREFIX}{provider.name}_{state}"] = {
        "data": pending,
        "exp": time.time() + STATE_LIFETIME,
    }
    return redirect(pending["url"])


def authorization_request(
    provider: Provider, metadata: Mapping[str, Any], redirect_uri: str
) -> dict[str, str]:
    """The authorization URL and what the callback needs, as Authlib's create_authorization_url makes them.

    Keys in Authlib's order (state is taken out before the rest is kept): redirect_uri,
    code_verifier, nonce, url, state.
    """
    code_verifier = generate_token(48)
    nonce = generate_token(20)
    state = generate_token()
    settings = {"scope": SCOPES, "code_challenge_method": CODE_CHALLENGE_METHOD, **metadata}
    params: dict[str, Any] = {
        "nonce": nonce,
        "redirect_uri": redirect_uri,
        "scope": SCOPES,
        "code_challenge": create_s256_code_challenge(code_verifier),
        "code_challenge_method": CODE_CHALLENGE_METHOD,
    }
    for key in EXTRA_AUTHORIZE_PARAMS:
        if key in settings:
            params[key] = settings[key]
    url = prepare_grant_uri(
        metadata["authorization_endpoint"],
        client_id=provider.client_id,
        response_type=settings.get("response_type", "code"),
        state=state,
        **params,
    )
    return {
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
        "nonce": nonce,
        "url": url,
        "state": state,
    }


def forget_older_sign_ins(keep: int = MAX_PENDING_SIGN_INS - 1) -> None:
    """Keep only the newest pending sign-ins, so repeated starts cannot outgrow the session cookie."""
    pending = [key for key in session if key.startswith(STATE_KEY_PREFIX)]
    pending.sort(key=lambda key: session[key].get("exp", 0) if isinstance(session[key], dict) else 0)
    for key in pending[: max(len(pending) - keep, 0)]:
        session.pop(key)


def start_failure_message(provider: Provider, exc: Exception) -> str:
    """A plain message for why a start failed (reaching the provider, or its discovery document)."""
    message = reach_failure_message(provider, exc)
    if message is None:
        log.warning("Unexpected OpenID Connect failure with %s", provider.issuer, exc_info=exc)
        return f"Signing in with {provider.label} did not work. Please try again."
    return message


def reach_failure_message(provider: Provider, exc: Exception) -> str | None:
    """The message for a provider that could not be reached or used, logged; None for other failures."""
    log.info("OpenID Connect sign-in with %s failed: %s: %s", provider.issuer, type(exc).__name__, exc)
    if isinstance(exc, FetchRefused | requests.RequestException):
        return f"We could not reach {provider.label} just now. Please try again later."
    if isinstance(exc, ProviderError):
        return f"{provider.label} cannot be used for sign-in: {exc}."
    return None
