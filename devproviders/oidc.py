"""The local OpenID Connect provider, on Authlib's authorization server.

One client (the site, as its provider "local"), the authorization code flow with PKCE (S256 only)
and a required nonce, ID tokens signed with an RSA key kept in tmp/ (in memory when testing).
Authorization codes live in this process's memory: the development server is one process.
"""

import hmac
import json
import os
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, grants
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from joserfc.jwk import RSAKey
from wtforms import StringField
from wtforms.validators import Length, Optional

from config import LOCAL_OIDC_ICON, LOCAL_OIDC_LABEL
from devproviders.common import Brand, SiteFacts, error_page, provider_app, site_address
from devproviders.forms import ApproveForm as BaseApproveForm

PREFIX = "/dev-oidc"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")

CODE_LIFETIME = 600  # seconds; RFC 6749 recommends at most ten minutes
ID_TOKEN_LIFETIME = 300
SCOPES = ("openid", "email", "profile")
ALG = "RS256"
STATE_KEY = "devoidc"

_keys: dict[str | None, RSAKey] = {}
_keys_lock = threading.Lock()


bp = Blueprint("oidc", __name__)


def create_app(site: SiteFacts) -> Flask:
    """The local OpenID Connect provider as a WSGI app, to be mounted at PREFIX."""
    app = provider_app(__name__, PREFIX, site, Brand(LOCAL_OIDC_ICON, LOCAL_OIDC_LABEL))
    app.config["DEV_OIDC_KEY_FILE"] = site.oidc_key_file
    app.register_blueprint(bp)
    app.extensions[STATE_KEY] = {"server": make_server(app), "codes": CodeStore()}
    # The token endpoint is called by the site's server with client authentication, not from a form.
    app.extensions["csrf"].exempt(token)
    return app


def site_facts() -> SiteFacts:
    """What this provider knows about the site (its client)."""
    return current_app.extensions["devproviders.site"]


def issuer_url() -> str:
    """This provider's issuer, exactly as the site is configured to expect it."""
    return site_facts().oidc_issuer


# --- Signing key ----------------------------------------------------------------------------------


def signing_key() -> RSAKey:
    """The RSA signing key: kept in DEV_OIDC_KEY_FILE when set, else made once per process."""
    path = current_app.config.get("DEV_OIDC_KEY_FILE")
    with _keys_lock:
        if path not in _keys:
            _keys[path] = _load_or_create_key(path)
        return _keys[path]


def _load_or_create_key(path: str | None) -> RSAKey:
    if path and Path(path).exists():
        return RSAKey.import_key(json.loads(Path(path).read_text()))
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALG}, private=True)
    key.ensure_kid()
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(key.as_dict(private=True), fh)
    return key


# --- Client, accounts and codes -------------------------------------------------------------------


@dataclass(frozen=True)
class LocalClient(ClientMixin):
    """This site, registered as the provider's only client."""

    client_id: str
    client_secret: str
    redirect_uris: frozenset[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:  # type: ignore[override]  # Authlib accepts None
        return None  # the site always names its redirect URI

    def get_allowed_scope(self, scope: Collection[str] | str) -> str:
        return list_to_scope([s for s in scope_to_list(scope) or [] if s in SCOPES])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


def site_redirect_uris(site: SiteFacts) -> frozenset[str]:
    """The site's callback on its own address, under each loopback name (a person may browse either)."""
    parts = urlsplit(site.oidc_issuer)
    port = f":{parts.port}" if parts.port else ""
    return frozenset(f"{parts.scheme}://{host}{port}{site.oidc_callback_path}" for host in LOOPBACK_HOSTS)


def query_client(client_id: str) -> "LocalClient | None":
    """The client with that id: only the site, as its provider "local"."""
    site = site_facts()
    if client_id != site.oidc_client_id:
        return None
    return LocalClient(site.oidc_client_id, site.oidc_client_secret, site_redirect_uris(site))


@dataclass(frozen=True)
class LocalAccount:
    """Who the person said they are on the approval page."""

    username: str
    nickname: str = ""
    name: str = ""
    email: str = ""


@dataclass
class Code(AuthorizationCodeMixin):
    """An issued authorization code and what it was issued for."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: LocalAccount
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def is_expired(self) -> bool:
        return time.time() > self.auth_time + CODE_LIFETIME


class CodeStore:
    """Authorization codes in memory; taking one removes it, so each works once."""

    def __init__(self) -> None:
        self._codes: dict[str, Code] = {}
        self._lock = threading.Lock()

    def save(self, code: Code) -> None:
        with self._lock:
            self._codes = {k: v for k, v in self._codes.items() if not v.is_expired()}
            self._codes[code.code] = code

    def take(self, code: str, client_id: str) -> Code | None:
        with self._lock:
            found = self._codes.pop(code, None)
        if found is None or found.is_expired() or found.client_id != client_id:
            return None
        return found

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        with self._lock:
            return any(c.client_id == client_id and c.nonce == nonce for c in self._codes.values())


# --- Grants ---------------------------------------------------------------------------------------


def codes() -> CodeStore:
    """This app's code store."""
    return current_app.extensions[STATE_KEY]["codes"]


def authorization_server() -> AuthorizationServer:
    """This app's Authlib authorization server."""
    return current_app.extensions[STATE_KEY]["server"]


class LocalCodeGrant(grants.AuthorizationCodeGrant):
    """The authorization code grant, with codes in the in-memory store."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        # Authlib sets these before it saves a code (for the person who approved: grant_user).
        assert request.payload is not None and request.client is not None and request.user is not None
        payload = request.payload.data
        codes().save(
            Code(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=payload.get("nonce"),
                code_challenge=payload.get("code_challenge"),
                code_challenge_method=payload.get("code_challenge_method"),
                user=request.user,
            )
        )

    def query_authorization_code(self, code: str, client: ClientMixin) -> Code | None:
        return codes().take(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: Code) -> None:
        pass  # taken from the store when it was looked up

    def authenticate_user(self, authorization_code: Code) -> LocalAccount:
        return authorization_code.user


class RequiredS256(CodeChallenge):
    """PKCE is required, and only with S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:
        assert grant.request.payload is not None  # Authlib set it already
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required.")
        super().validate_code_challenge(grant, redirect_uri)


class LocalOpenIDCode(OpenIDCode):
    """ID tokens signed with the provider key, carrying the profile the person approved."""

    DEFAULT_EXPIRES_IN = ID_TOKEN_LIFETIME

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        assert request.payload is not None  # Authlib set it already
        return codes().nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: ClientMixin) -> RSAKey:
        return signing_key()

    def get_client_algorithm(self, client: ClientMixin) -> str:
        return ALG

    def get_client_claims(self, client: ClientMixin) -> dict[str, Any]:
        return {"iss": issuer_url(), "aud": [client.get_client_id()]}

    def get_encode_header(self, client: ClientMixin) -> dict[str, Any]:
        return {"alg": ALG, "typ": "JWT", "kid": signing_key().kid}

    def generate_user_info(self, user: LocalAccount, scope: str) -> UserInfo:
        info = UserInfo(sub=user.username)
        scopes = scope_to_list(scope) or []
        if "profile" in scopes:
            info.update({k: v for k, v in (("preferred_username", user.nickname), ("name", user.name)) if v})
        if "email" in scopes and user.email:
            info.update(email=user.email, email_verified=True)
        return info


def make_server(app: Flask) -> AuthorizationServer:
    """An Authlib authorization server for this app: code grant, OpenID Connect, required PKCE."""
    server = AuthorizationServer(query_client=query_client, save_token=lambda token, request: None)
    server.init_app(app)
    server.register_grant(LocalCodeGrant, [LocalOpenIDCode(require_nonce=True), RequiredS256()])
    return server


def metadata_document() -> dict[str, Any]:
    """The discovery document."""
    issuer = issuer_url()
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALG],
        "scopes_supported": list(SCOPES),
        "grant_types_supported": ["authorization_code"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "preferred_username",
            "name",
            "email",
            "email_verified",
        ],
    }


# --- Views ---------------------------------------------------------------------------------------


SAMPLE_USERNAME = "oidc-user"  # the approval form starts filled in, as the OpenID 2.0 one does


class ApproveForm(BaseApproveForm):
    """Who the person is here (their subject) and the profile the provider sends."""

    nickname = StringField("Nickname sent to the site", validators=[Optional(), Length(max=64)])
    name = StringField("Name sent to the site", validators=[Optional(), Length(max=100)])


def protocol_error(error: OAuth2Error) -> Response | tuple[str, int]:
    """Send a protocol error back to the site when its redirect URI is proven, else show it here."""
    if error.redirect_uri:
        # types-Authlib: the request may be None, and the Flask server answers with a Flask Response.
        return authorization_server().handle_error_response(None, error)  # type: ignore[arg-type, return-value]
    message = f"The sign-in request is not valid: {error.description or error.error}"
    return error_page("Bad sign-in request", message, 400)


def consent_grant() -> grants.AuthorizationCodeGrant:
    """The validated authorization request of this URL (raises OAuth2Error if it is not valid)."""
    return authorization_server().get_consent_grant(end_user=None)


@bp.get("/.well-known/openid-configuration")
def metadata() -> Response:
    """OpenID Connect discovery document."""
    return jsonify(metadata_document())


@bp.get("/jwks")
def jwks() -> Response:
    """The public signing key."""
    return jsonify({"keys": [signing_key().as_dict(private=False)]})


@bp.get("/authorize")
def authorize() -> Response | str | tuple[str, int]:
    """Check the sign-in request and ask the person to approve it."""
    try:
        grant = consent_grant()
    except OAuth2Error as error:
        return protocol_error(error)
    form = ApproveForm(
        username=SAMPLE_USERNAME, nickname=SAMPLE_USERNAME, email=f"{SAMPLE_USERNAME}@example.test"
    )
    return render_template(
        "devproviders/oidc_approve.html", form=form, grant=grant, asking=site_address(request.host_url)
    )


@bp.post("/authorize")
def decide() -> Response | tuple[str, int]:
    """Send the person's answer back to the site: a code for the approved profile, or access_denied."""
    try:
        grant = consent_grant()
    except OAuth2Error as error:
        return protocol_error(error)
    server = authorization_server()
    # types-Authlib says object: the Flask server answers with a Flask Response.
    if "cancel" in request.form:
        return server.create_authorization_response(grant_user=None, grant=grant)  # type: ignore[return-value]
    form = ApproveForm()
    if not form.validate():
        page = render_template(
            "devproviders/oidc_approve.html", form=form, grant=grant, asking=site_address(request.host_url)
        )
        return page, 200
    assert form.username.data is not None  # DataRequired
    account = LocalAccount(
        form.username.data, form.nickname.data or "", form.name.data or "", form.email.data or ""
    )
    return server.create_authorization_response(grant_user=account, grant=grant)  # type: ignore[return-value]


@bp.post("/token")
def token() -> Response:
    """Exchange a code (with its PKCE verifier) for an ID token."""
    # types-Authlib gives the framework-neutral tuple: the Flask server answers with a Flask Response.
    return authorization_server().create_token_response()  # type: ignore[return-value]
