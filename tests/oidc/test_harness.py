"""Self-tests of the OIDC test infrastructure, without the microblog app.

The real provider (oidc-provider under Node.js) is driven with Authlib's
requests client and with a throwaway Flask client; the forging provider is
checked to forge exactly what each mode says, and Authlib's Flask client
(the one microblog uses) is checked to reject every forgery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from flask import Flask, jsonify
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import JWSRegistry

from tests.oidc import harness
from tests.oidc.forging_provider import MODES, start_forging_provider
from tests.oidc.harness import (
    OIDCHarnessError,
    callback_params,
    complete_login,
    complete_logout,
    start_oidc_provider,
)

pytestmark = pytest.mark.e2e  # Node.js provider and HTTP
TIMEOUT = 10
REDIRECT_URI = "http://127.0.0.1:5999/auth/callback"  # never requested
POST_LOGOUT_URI = "http://127.0.0.1:5999/signed-out"
ACCOUNTS = {
    "alice": {"email": "bob@example.org", "preferred_username": "alice"},
    "noemail": {"email": None, "email_verified": None},
    "unverified": {"email_verified": False, "name": "Un Verified"},
}


@pytest.fixture(scope="module")
def oidc():
    with start_oidc_provider(
        redirect_uris=[REDIRECT_URI],
        accounts=ACCOUNTS,
        post_logout_redirect_uris=[POST_LOGOUT_URI],
    ) as provider:
        yield provider


@pytest.fixture(scope="module")
def metadata(oidc):
    return oidc.metadata()


def oauth_session(provider, **kwargs) -> OAuth2Session:
    return OAuth2Session(
        provider.client_id,
        provider.client_secret,
        scope="openid email profile",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        **kwargs,
    )


def validate_id_token(id_token, metadata, client_id, nonce, access_token):
    """Validate like Authlib 1.9's OpenIDMixin.parse_id_token (Flask client)."""
    jwks = requests.get(metadata["jwks_uri"], timeout=TIMEOUT).json()
    registry = JWSRegistry(
        algorithms=metadata.get("id_token_signing_alg_values_supported"),
        strict_check_header=False,
    )
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), registry=registry)
    claims = CodeIDToken(
        token.claims,
        token.header,
        {"iss": {"values": [metadata["issuer"]]}},
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate(leeway=120)
    return claims


def login_and_fetch(provider, metadata, username, **session_kwargs):
    client = oauth_session(provider, **session_kwargs)
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = complete_login(url, username, redirect_uri=REDIRECT_URI)
    params = callback_params(callback)
    assert callback.startswith(REDIRECT_URI + "?")
    assert params["state"] == state
    assert params["iss"] == provider.issuer  # RFC 9207 issuer in the response
    token = client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        timeout=TIMEOUT,
    )
    claims = validate_id_token(token["id_token"], metadata, provider.client_id, nonce, token["access_token"])
    return client, token, claims, nonce


# --- the real provider -------------------------------------------------------


def test_discovery(oidc, metadata):
    assert oidc.issuer == f"http://127.0.0.1:{oidc.port}"
    assert metadata["issuer"] == oidc.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert set(metadata["scopes_supported"]) == {"openid", "email", "profile"}
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["authorization_endpoint"].startswith(oidc.issuer + "/")


def test_code_flow_with_pkce_and_id_token_validation(oidc, metadata):
    client, token, claims, nonce = login_and_fetch(oidc, metadata, "alice")
    assert claims["sub"] == "alice"
    assert claims["aud"] == oidc.client_id
    assert claims["nonce"] == nonce
    assert claims["iss"] == oidc.issuer
    assert claims["email"] == "bob@example.org"  # override from ACCOUNTS
    assert claims["email_verified"] is True
    assert claims["preferred_username"] == "alice"

    userinfo = client.get(metadata["userinfo_endpoint"], timeout=TIMEOUT).json()
    assert userinfo["sub"] == "alice"
    assert userinfo["email"] == "bob@example.org"


def test_default_and_overridden_claims(oidc, metadata):
    _, _, carol, _ = login_and_fetch(oidc, metadata, "carol")
    assert {k: carol[k] for k in ("sub", "email", "email_verified")} == {
        "sub": "carol",
        "email": "carol@example.test",
        "email_verified": True,
    }
    assert carol["preferred_username"] == carol["nickname"] == carol["name"] == "carol"

    _, _, noemail, _ = login_and_fetch(oidc, metadata, "noemail")
    assert "email" not in noemail and "email_verified" not in noemail

    _, _, unverified, _ = login_and_fetch(oidc, metadata, "unverified")
    assert unverified["email_verified"] is False
    assert unverified["name"] == "Un Verified"


def test_denied_consent_returns_access_denied(oidc, metadata):
    client = oauth_session(oidc)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48), nonce="n"
    )
    callback = complete_login(url, "alice", approve=False)
    params = callback_params(callback)
    assert callback.startswith(REDIRECT_URI + "?")
    assert params["error"] == "access_denied"
    assert params["state"] == state
    assert "code" not in params


def test_pkce_is_required(oidc, metadata):
    client = OAuth2Session(oidc.client_id, scope="openid", redirect_uri=REDIRECT_URI)  # no code_challenge
    url, state = client.create_authorization_url(metadata["authorization_endpoint"])
    params = callback_params(complete_login(url, "alice"))
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    assert params["state"] == state


def test_wrong_code_verifier_is_rejected(oidc, metadata):
    client = oauth_session(oidc)
    url, _ = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48), nonce="n"
    )
    callback = complete_login(url, "alice")
    resp = requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": callback_params(callback)["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": generate_token(48),
        },
        auth=(oidc.client_id, oidc.client_secret),
        timeout=TIMEOUT,
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_both_secret_methods_work_and_a_wrong_secret_does_not(oidc, metadata, method):
    # oidc-provider 9.x accepts basic and post alike for a client registered with either.
    client = oauth_session(oidc, token_endpoint_auth_method=method)
    verifier = generate_token(48)
    url, _ = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="n"
    )
    token = client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=complete_login(url, "alice"),
        code_verifier=verifier,
        timeout=TIMEOUT,
    )
    assert token["id_token"]

    wrong = OAuth2Session(
        oidc.client_id,
        "wrong-secret",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
    )
    url, _ = wrong.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="n"
    )
    with pytest.raises(OAuthError, match="invalid_client"):
        wrong.fetch_token(
            metadata["token_endpoint"],
            authorization_response=complete_login(url, "alice"),
            code_verifier=verifier,
            timeout=TIMEOUT,
        )


def test_unregistered_redirect_uri_is_an_error_page(oidc, metadata):
    client = OAuth2Session(oidc.client_id, scope="openid", redirect_uri="http://127.0.0.1:5999/evil")
    url, _ = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48)
    )
    with pytest.raises(OIDCHarnessError, match="redirect_uri"):
        complete_login(url, "alice")


def test_sso_session_skips_login_and_consent_then_logout(oidc, metadata):
    with requests.Session() as browser:
        sso_and_logout(oidc, metadata, browser)


def sso_and_logout(oidc, metadata, browser):
    client = oauth_session(oidc)
    first, _ = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48), nonce="a"
    )
    assert "code" in callback_params(complete_login(first, "dave", session=browser))

    second, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48), nonce="b"
    )
    resp = browser.get(second, allow_redirects=False, timeout=TIMEOUT)
    location = resp.headers["Location"]  # straight back: no interaction needed
    assert location.startswith(REDIRECT_URI + "?")
    assert callback_params(location)["state"] == state

    logout_url = (
        metadata["end_session_endpoint"]
        + "?"
        + requests.compat.urlencode(
            {"client_id": oidc.client_id, "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "s1"}
        )
    )
    back = complete_logout(logout_url, session=browser)
    assert back.startswith(POST_LOGOUT_URI)
    assert callback_params(back)["state"] == "s1"

    third, _ = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48), nonce="c"
    )
    resp = browser.get(third, allow_redirects=False, timeout=TIMEOUT)
    assert "/interaction/" in resp.headers["Location"]  # signed out: login again


def test_second_instance_with_path_issuer_and_client_secret_post():
    with start_oidc_provider(
        redirect_uris=REDIRECT_URI,
        client_id="other-app",
        client_secret="other-secret",
        issuer="http://localhost:{port}/tenant-b",
        client_auth_method="client_secret_post",
        conform_id_token_claims=True,
    ) as other:
        assert other.issuer == f"http://localhost:{other.port}/tenant-b"
        meta = other.metadata()
        assert meta["issuer"] == other.issuer
        assert meta["token_endpoint"] == other.issuer + "/token"
        client, token, claims, _ = login_and_fetch(
            other, meta, "erin", token_endpoint_auth_method="client_secret_post"
        )
        assert claims["iss"] == other.issuer
        assert claims["aud"] == "other-app"
        assert "email" not in claims  # conformIdTokenClaims: claims via userinfo only
        userinfo = client.get(meta["userinfo_endpoint"], timeout=TIMEOUT).json()
        assert userinfo["email"] == "erin@example.test"


def test_stops_cleanly_and_frees_the_port():
    with start_oidc_provider(redirect_uris=REDIRECT_URI) as provider:
        proc, port = provider.process, provider.port
        assert provider.metadata()["issuer"] == provider.issuer
    assert proc.returncode == 0
    harness.wait_for_port_free(port)


def test_missing_node_modules_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(harness, "NODE_MODULES", str(tmp_path / "node_modules"))
    with pytest.raises(OIDCHarnessError, match=r"npm ci --prefix tests/oidc"):
        with start_oidc_provider(redirect_uris=REDIRECT_URI):
            pass


# --- Authlib's Flask client, as microblog will use it --------------------------


def make_flask_client(metadata_url, client_id, client_secret, check_aud=True):
    """A throwaway Flask RP: /login redirects, /auth/callback returns claims.

    With ``check_aud`` it passes ``claims_options`` for iss and aud, as an app
    must: Authlib 1.9's default checks iss but not aud (only azp).
    """
    app = Flask(__name__)
    app.secret_key = "test"
    app.config["TESTING"] = True
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=metadata_url,
        client_kwargs={
            "scope": "openid email profile",
            "code_challenge_method": "S256",
            "timeout": TIMEOUT,
        },
    )

    @app.get("/login")
    def login():
        return oauth.idp.authorize_redirect(REDIRECT_URI)

    @app.get("/auth/callback")
    def callback():
        kwargs = {}
        if check_aud:
            issuer = oauth.idp.load_server_metadata()["issuer"]
            kwargs["claims_options"] = {
                "iss": {"essential": True, "values": [issuer]},
                "aud": {"essential": True, "value": client_id},
            }
        try:
            token = oauth.idp.authorize_access_token(**kwargs)
        except (OAuthError, JoseError) as exc:  # reported to the test, which decides
            return jsonify(error=type(exc).__name__, detail=str(exc)), 400
        return jsonify(claims=dict(token["userinfo"]), userinfo=dict(oauth.idp.userinfo()))

    return app, oauth


def flask_login(app, username="alice", approve=True):
    client = app.test_client()
    resp = client.get("/login")
    assert resp.status_code == 302
    callback = complete_login(resp.headers["Location"], username, approve=approve)
    parts = urlsplit(callback)
    return client.get(parts.path, query_string=parts.query)


def test_flask_client_against_real_provider(oidc):
    app, _ = make_flask_client(oidc.metadata_url, oidc.client_id, oidc.client_secret)
    resp = flask_login(app, "alice")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["claims"]["sub"] == body["userinfo"]["sub"] == "alice"
    assert body["claims"]["email"] == "bob@example.org"

    denied = flask_login(app, "alice", approve=False)
    assert denied.status_code == 400
    assert "access_denied" in denied.get_json()["detail"]


# --- the forging provider ------------------------------------------------------


@pytest.fixture
def forger():
    with start_forging_provider() as provider:
        yield provider


def forged_token(forger, mode):
    """Run /authorize and /token directly; return (id_token, nonce, access_token)."""
    forger.mode = mode
    nonce = generate_token(16)
    verifier = generate_token(48)
    client = OAuth2Session(
        forger.client_id,
        forger.client_secret,
        scope="openid email profile",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    url, state = client.create_authorization_url(
        forger.issuer + "/authorize", code_verifier=verifier, nonce=nonce
    )
    callback = complete_login(url, "ignored")
    assert callback_params(callback)["state"] == state
    token = client.fetch_token(
        forger.issuer + "/token",
        authorization_response=callback,
        code_verifier=verifier,
        timeout=TIMEOUT,
    )
    assert forger.token_requests[-1]["auth_method"] == "client_secret_basic"
    return token["id_token"], nonce, token["access_token"]


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def header_of(id_token):
    return json.loads(b64decode(id_token.split(".")[0]))


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("wrong_nonce", InvalidClaimError),
        ("missing_nonce", MissingClaimError),
        ("wrong_aud", MissingClaimError),  # Authlib's default reports the missing azp
        ("wrong_iss", InvalidClaimError),
        ("expired", ExpiredTokenError),
        ("wrong_at_hash", InvalidClaimError),
    ],
)
def test_forged_claims_are_signed_correctly_but_invalid(forger, mode, error):
    id_token, nonce, access_token = forged_token(forger, mode)
    meta = requests.get(forger.metadata_url, timeout=TIMEOUT).json()
    with pytest.raises(error):
        validate_id_token(id_token, meta, forger.client_id, nonce, access_token)
    # the signature itself is fine: only the claim is forged
    token = jwt.decode(id_token, KeySet.import_key_set(forger.jwks()))
    assert token.header["kid"] == forger.signing_key.kid


def test_good_mode_validates(forger):
    id_token, nonce, access_token = forged_token(forger, "good")
    meta = requests.get(forger.metadata_url, timeout=TIMEOUT).json()
    claims = validate_id_token(id_token, meta, forger.client_id, nonce, access_token)
    assert claims["sub"] == "forged-user"
    assert claims["nonce"] == nonce


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
def test_forged_signatures_are_exactly_the_advertised_attack(forger):
    jwks = KeySet.import_key_set(forger.jwks())
    published = {k["kid"] for k in forger.jwks()["keys"]}

    id_token, _, _ = forged_token(forger, "bad_signature")
    with pytest.raises(BadSignatureError):
        jwt.decode(id_token, jwks)

    id_token, _, _ = forged_token(forger, "alg_none")
    assert header_of(id_token)["alg"] == "none"
    assert id_token.endswith(".")

    id_token, _, _ = forged_token(forger, "unknown_kid")
    assert header_of(id_token)["kid"] not in published
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(id_token, jwks)

    id_token, _, _ = forged_token(forger, "hs256_with_public_key")
    header = header_of(id_token)
    assert header["alg"] == "HS256" and header["kid"] in published
    signing_input, _, _ = id_token.rpartition(".")
    pem = forger.signing_key.as_pem(private=False)
    expected = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert b64decode(id_token.rsplit(".", 1)[1]) == expected

    id_token, _, _ = forged_token(forger, "embedded_jwk")
    header = header_of(id_token)
    assert header["jwk"]["n"] not in {k["n"] for k in forger.jwks()["keys"]}
    assert header["kid"] in published
    jwt.decode(id_token, RSAKey.import_key(header["jwk"]))  # verifies with its own key
    with pytest.raises(BadSignatureError):
        jwt.decode(id_token, jwks)  # ...but not with the published key of that kid

    id_token, _, _ = forged_token(forger, "jku")
    header = header_of(id_token)
    attacker_jwks = requests.get(header["jku"], timeout=TIMEOUT).json()
    jwt.decode(id_token, KeySet.import_key_set(attacker_jwks))
    assert header["kid"] not in published


BAD_MODES = {
    "wrong_nonce": InvalidClaimError,
    "missing_nonce": MissingClaimError,
    "wrong_aud": InvalidClaimError,
    "wrong_aud_with_azp": InvalidClaimError,
    "wrong_iss": InvalidClaimError,
    "expired": ExpiredTokenError,
    "bad_signature": BadSignatureError,
    "alg_none": UnsupportedAlgorithmError,
    "unknown_kid": InvalidKeyIdError,
    "hs256_with_public_key": UnsupportedAlgorithmError,
    "embedded_jwk": BadSignatureError,
    "jku": InvalidKeyIdError,
    "wrong_at_hash": InvalidClaimError,
}


def test_every_mode_is_covered():
    assert set(MODES) == {"good", "userinfo_wrong_sub", *BAD_MODES}


@pytest.mark.parametrize(("mode", "error"), BAD_MODES.items())
def test_flask_client_rejects_forgery(forger, mode, error):
    app, _ = make_flask_client(forger.metadata_url, forger.client_id, forger.client_secret)
    forger.mode = mode
    resp = flask_login(app)
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["error"] == error.__name__


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
@pytest.mark.parametrize("algs", [["RS256", "HS256", "none"], None])
def test_alg_attacks_against_permissive_metadata(forger, algs):
    """Authlib allows the algs the metadata lists: with "none" listed it accepts
    an unsigned id_token. HS256 keyed with the RSA public key still fails."""
    forger.id_token_signing_algs = algs
    app, _ = make_flask_client(forger.metadata_url, forger.client_id, forger.client_secret)
    forger.mode = "hs256_with_public_key"
    assert flask_login(app).get_json()["error"] == "InvalidKeyIdError"
    forger.mode = "alg_none"
    resp = flask_login(app)
    if algs is None:  # no list in metadata: joserfc's recommended algs only
        assert resp.get_json()["error"] == "UnsupportedAlgorithmError"
    else:
        assert resp.status_code == 200, "Authlib now refuses alg none itself: update this note"
        assert resp.get_json()["claims"]["sub"] == "forged-user"


def test_authlib_default_ignores_aud_so_the_app_must_pass_claims_options(forger):
    """Authlib 1.9.10 parse_id_token() checks aud only through azp: a token for
    another audience that names us in azp passes unless claims_options has aud."""
    id_token, nonce, access_token = forged_token(forger, "wrong_aud_with_azp")
    claims = jwt.decode(id_token, KeySet.import_key_set(forger.jwks())).claims
    assert claims["aud"] == "some-other-client" and claims["azp"] == forger.client_id

    lax, _ = make_flask_client(forger.metadata_url, forger.client_id, forger.client_secret, check_aud=False)
    resp = flask_login(lax)
    assert resp.status_code == 200, "Authlib now checks aud itself: update this note"

    strict, _ = make_flask_client(forger.metadata_url, forger.client_id, forger.client_secret)
    resp = flask_login(strict)
    assert resp.status_code == 400
    assert "aud" in resp.get_json()["detail"]


def test_flask_client_accepts_good_and_sends_pkce_and_basic_auth(forger):
    app, _ = make_flask_client(forger.metadata_url, forger.client_id, forger.client_secret)
    resp = flask_login(app)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["claims"]["sub"] == "forged-user"
    auth = forger.authorize_requests[-1]
    assert auth["code_challenge_method"] == "S256" and auth["nonce"]
    assert forger.token_requests[-1]["auth_method"] == "client_secret_basic"
    assert forger.token_requests[-1]["code_verifier"]


def test_userinfo_wrong_sub_is_observable(forger):
    app, _ = make_flask_client(forger.metadata_url, forger.client_id, forger.client_secret)
    forger.mode = "userinfo_wrong_sub"
    body = flask_login(app).get_json()
    assert body["claims"]["sub"] == "forged-user"
    assert body["userinfo"]["sub"] == "someone-else"


def test_key_rotation_refreshes_jwks_but_unknown_kid_still_fails(forger):
    app, _ = make_flask_client(forger.metadata_url, forger.client_id, forger.client_secret)
    assert flask_login(app).status_code == 200
    assert forger.jwks_requests == 1

    old_kid = forger.signing_key.kid
    new_key = forger.rotate_key()
    assert new_key.kid != old_kid
    assert {k["kid"] for k in forger.jwks()["keys"]} == {old_kid, new_key.kid}
    resp = flask_login(app)
    assert resp.status_code == 200, resp.get_json()
    assert forger.jwks_requests == 2  # cached JWKS lacked the kid: fetched again

    forger.mode = "unknown_kid"
    assert flask_login(app).status_code == 400
    assert forger.jwks_requests == 3


@pytest.mark.parametrize(
    ("secret", "verifier_ok", "error"),
    [("wrong", True, "invalid_client"), ("microblog-secret", False, "invalid_grant")],
)
def test_forging_provider_checks_client_secret_and_pkce(forger, secret, verifier_ok, error):
    client = OAuth2Session(forger.client_id, secret, redirect_uri=REDIRECT_URI, code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = client.create_authorization_url(forger.issuer + "/authorize", code_verifier=verifier, nonce="n")
    callback = complete_login(url, "x")
    with pytest.raises(OAuthError, match=error):
        client.fetch_token(
            forger.issuer + "/token",
            authorization_response=callback,
            code_verifier=verifier if verifier_ok else generate_token(48),
            timeout=TIMEOUT,
        )


def test_unknown_mode_is_refused(forger):
    with pytest.raises(ValueError, match="unknown mode"):
        forger.mode = "no-such-mode"
