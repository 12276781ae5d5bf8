"""The local OpenID Connect provider (development): the protocol checks it makes as a provider."""

import base64
import hashlib
import json
import stat
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from app import create_app
from config import LOCAL_OIDC_CLIENT_ID as LOCAL_CLIENT_ID
from tests.support.web import csrf_token, dev_client

REDIRECT_URI = "http://localhost/login/oidc/local/callback"
VERIFIER = "v" * 50


@pytest.fixture
def client(app):
    """The site with the local providers mounted beside it, as run.py serves them."""
    return dev_client(app)


def local_client_secret(app):
    return app.config["OIDC_PROVIDERS"]["local"]["client_secret"]


def challenge(verifier=VERIFIER):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize_url(**changes):
    params = {
        "response_type": "code",
        "client_id": LOCAL_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": "st-1",
        "nonce": "nonce-1",
        "code_challenge": challenge(),
        "code_challenge_method": "S256",
    }
    params.update(changes)
    return "/dev-oidc/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def approve(client, url, **fields):
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "username": "zoe",
        "approve": "1",
        **fields,
    }
    return client.post(url, data=data)


def answer(response):
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(client, app, code, verifier=VERIFIER, secret=None):
    secret = secret or local_client_secret(app)
    auth = base64.b64encode(f"{LOCAL_CLIENT_ID}:{secret}".encode()).decode()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    return client.post("/dev-oidc/token", data=form, headers={"Authorization": f"Basic {auth}"})


def test_discovery_and_keys(client):
    meta = client.get("/dev-oidc/.well-known/openid-configuration").get_json()
    assert meta["issuer"] == "http://localhost/dev-oidc"
    assert meta["token_endpoint"] == "http://localhost/dev-oidc/token"
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    keys = client.get("/dev-oidc/jwks").get_json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and "d" not in keys[0]


def test_code_flow_issues_a_signed_id_token_once(app, client):
    params = answer(approve(client, authorize_url(), nickname="Zed", name="Zoe Z", email="zoe@example.org"))
    assert params["state"] == "st-1"
    response = exchange(client, app, params["code"])
    assert response.status_code == 200, response.get_json()
    keys = KeySet.import_key_set(client.get("/dev-oidc/jwks").get_json())
    claims = jwt.decode(response.get_json()["id_token"], keys).claims
    assert claims["iss"] == "http://localhost/dev-oidc" and claims["aud"] == [LOCAL_CLIENT_ID]
    assert claims["sub"] == "zoe" and claims["nonce"] == "nonce-1"
    assert (claims["preferred_username"], claims["name"], claims["email"]) == (
        "Zed",
        "Zoe Z",
        "zoe@example.org",
    )

    again = exchange(client, app, params["code"])
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_the_token_endpoint_checks_the_client_secret_and_the_pkce_verifier(app, client):
    code = answer(approve(client, authorize_url()))["code"]
    wrong_secret = exchange(client, app, code, secret="wrong")
    assert wrong_secret.status_code == 401 and wrong_secret.get_json()["error"] == "invalid_client"

    reused = answer(client.get(authorize_url()))  # that nonce has a code outstanding
    assert reused["error"] == "invalid_request"
    code = answer(approve(client, authorize_url(nonce="nonce-2")))["code"]
    wrong_verifier = exchange(client, app, code, verifier="w" * 50)
    assert wrong_verifier.status_code == 400 and wrong_verifier.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "changes",
    [
        {"code_challenge": None, "code_challenge_method": None},  # no PKCE
        {"code_challenge_method": "plain", "code_challenge": VERIFIER},
        {"nonce": None},
        {"prompt": "none"},
    ],
)
def test_requests_it_cannot_serve_go_back_to_the_site_as_errors(client, changes):
    response = client.get(authorize_url(**changes))
    params = answer(response)
    assert params["error"] in ("invalid_request", "login_required") and params["state"] == "st-1"


@pytest.mark.parametrize(
    "changes", [{"redirect_uri": "https://evil.example/callback"}, {"client_id": "someone-else"}]
)
def test_an_unknown_client_or_redirect_uri_is_never_redirected_to(client, changes):
    response = client.get(authorize_url(**changes))
    assert response.status_code == 400 and "Location" not in response.headers
    assert "The sign-in request is not valid" in response.get_data(as_text=True)


def test_cancel_answers_access_denied(client):
    page = client.get(authorize_url())
    response = client.post(
        authorize_url(), data={"csrf_token": csrf_token(page.get_data(as_text=True)), "cancel": "1"}
    )
    assert answer(response)["error"] == "access_denied"


def test_approving_needs_the_csrf_token(client):
    client.get(authorize_url())
    response = client.post(authorize_url(), data={"username": "zoe", "approve": "1"})
    assert response.status_code == 400 and "Location" not in response.headers


def test_the_signing_key_is_kept_in_tmp_with_private_permissions(tmp_path):
    key_file = tmp_path / "dev-oidc-key.json"
    settings = {"SQLALCHEMY_DATABASE_URI": "sqlite://", "DEV_OIDC_KEY_FILE": str(key_file)}
    first = dev_client(create_app("testing", settings)).get("/dev-oidc/jwks").get_json()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and "d" in json.loads(key_file.read_text())
    from devproviders import oidc as provider

    provider._keys.pop(str(key_file))  # as after a restart: the key is read back from the file
    second = dev_client(create_app("testing", settings)).get("/dev-oidc/jwks").get_json()
    assert first == second
