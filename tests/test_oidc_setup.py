"""OpenID Connect set-up: providers from the environment, presets, login page, parts of the checks."""

import os
import textwrap
import time

import pytest
from authlib.oidc.core import CodeIDToken
from joserfc.errors import InvalidClaimError, MissingClaimError

from app import create_app
from app.auth.oidc.client import ProviderError, auth_method, checked_metadata, claims_options
from app.nicknames import first_nickname
from app.providers import Provider, oidc_provider
from config import ConfigError, load_config
from tests.support.python_run import python_lines

SECRETS = {"SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


def providers(environ, name="production", **overrides):
    return load_config(name, {**SECRETS, **overrides}, environ=environ)["OIDC_PROVIDERS"]


def test_no_provider_without_credentials():
    assert providers({}) == {}
    assert providers({"OIDC_YAHOO_LABEL": "Yahoo!"}) == {}


@pytest.mark.parametrize(
    ("name", "issuer", "label"),
    [
        ("YAHOO", "https://api.login.yahoo.com", "Yahoo"),
        ("GOOGLE", "https://accounts.google.com", "Google"),
        ("MICROSOFT", "https://login.microsoftonline.com/common/v2.0", "Microsoft"),
        ("GITLAB", "https://gitlab.com", "GitLab"),
    ],
)
def test_presets_need_only_the_client_id_and_secret(name, issuer, label):
    found = providers({f"OIDC_{name}_CLIENT_ID": "id-1", f"OIDC_{name}_CLIENT_SECRET": "s3cret"})
    assert list(found) == [name.lower()]
    assert found[name.lower()]["issuer"] == issuer and found[name.lower()]["label"] == label
    assert found[name.lower()]["client_id"] == "id-1" and found[name.lower()]["client_secret"] == "s3cret"


def test_microsoft_common_checks_the_tenant_issuer_template():
    found = providers({"OIDC_MICROSOFT_CLIENT_ID": "a", "OIDC_MICROSOFT_CLIENT_SECRET": "b"})
    assert found["microsoft"]["issuer_template"] == "https://login.microsoftonline.com/{tid}/v2.0"
    single_tenant = providers(
        {
            "OIDC_MICROSOFT_CLIENT_ID": "a",
            "OIDC_MICROSOFT_CLIENT_SECRET": "b",
            "OIDC_MICROSOFT_ISSUER": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        }
    )
    assert "issuer_template" not in single_tenant["microsoft"]  # one tenant: its exact issuer


def test_any_provider_with_an_issuer_and_label():
    found = providers(
        {
            "OIDC_MY_CORP_CLIENT_ID": "id",
            "OIDC_MY_CORP_CLIENT_SECRET": "secret",
            "OIDC_MY_CORP_ISSUER": "https://id.corp.example/realms/main",
            "OIDC_MY_CORP_LABEL": "Corp Login",
            "OIDC_AUTH0_CLIENT_ID": "id2",
            "OIDC_AUTH0_CLIENT_SECRET": "secret2",
            "OIDC_AUTH0_ISSUER": "https://tenant.eu.auth0.example/",
        }
    )
    assert found["my_corp"] == {
        "client_id": "id",
        "client_secret": "secret",
        "issuer": "https://id.corp.example/realms/main",
        "label": "Corp Login",
    }
    assert found["auth0"]["issuer"] == "https://tenant.eu.auth0.example/"  # kept exactly, slash and all
    assert found["auth0"]["label"] == "Auth0"


def test_overrides_configure_providers_like_the_environment():
    found = providers({}, **{"OIDC_GOOGLE_CLIENT_ID": "g", "OIDC_GOOGLE_CLIENT_SECRET": "s"})
    assert found["google"]["issuer"] == "https://accounts.google.com"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OIDC_YAHOO_CLIENT_ID": "id"}, "set OIDC_YAHOO_CLIENT_SECRET"),
        ({"OIDC_YAHOO_CLIENT_SECRET": "s"}, "set OIDC_YAHOO_CLIENT_ID"),
        ({"OIDC_CORP_CLIENT_ID": "id", "OIDC_CORP_CLIENT_SECRET": "s"}, "needs OIDC_CORP_ISSUER"),
        (
            {
                "OIDC_CORP_CLIENT_ID": "i",
                "OIDC_CORP_CLIENT_SECRET": "s",
                "OIDC_CORP_ISSUER": "http://id.example",
            },
            "must be an https:// URL",
        ),
        ({"OIDC_LOCAL_CLIENT_ID": "id", "OIDC_LOCAL_CLIENT_SECRET": "s"}, "cannot be used"),
    ],
)
def test_incomplete_or_unsafe_providers_stop_the_app_with_a_clear_message(environ, message):
    with pytest.raises(ConfigError, match=message):
        providers(environ)


def test_http_issuers_are_allowed_only_with_private_hosts():
    environ = {
        "OIDC_CORP_CLIENT_ID": "i",
        "OIDC_CORP_CLIENT_SECRET": "s",
        "OIDC_CORP_ISSUER": "http://127.0.0.1:9",
    }
    assert providers(environ, "testing")["corp"]["issuer"] == "http://127.0.0.1:9"


def login_page(**settings):
    app = create_app("production", {**SECRETS, **settings})
    return app.test_client().get("/login").get_data(as_text=True)


def test_the_login_page_shows_configured_providers_only():
    page = login_page(
        OIDC_YAHOO_CLIENT_ID="y",
        OIDC_YAHOO_CLIENT_SECRET="s",
        OIDC_GITLAB_CLIENT_ID="g",
        OIDC_GITLAB_CLIENT_SECRET="s",
    )
    assert "Sign in with Yahoo" in page and "Sign in with GitLab" in page
    assert 'formaction="/login/oidc/yahoo"' in page and 'formaction="/login/oidc/gitlab"' in page
    assert "Sign in with Google" not in page and "Sign in with Microsoft" not in page
    assert "Local test provider" not in page  # production: no local providers

    bare = login_page()
    assert "OpenID Connect" not in bare and "formaction" not in bare


def test_production_serves_no_local_oidc_provider():
    app = create_app("production", SECRETS)
    assert app.test_client().get("/dev-oidc/.well-known/openid-configuration").status_code == 404


def test_development_and_testing_offer_the_local_oidc_provider(app, client):
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with Local test provider (OpenID Connect)" in page
    assert 'formaction="/login/oidc/local"' in page


# --- building blocks of the checks ---------------------------------------------------------------


def microsoft():
    return Provider(
        name="microsoft",
        label="Microsoft",
        issuer="https://login.microsoftonline.com/common/v2.0",
        client_id="client-1",
        client_secret="s",
        issuer_template="https://login.microsoftonline.com/{tid}/v2.0",
    )


def validate(provider, **claims):
    base = {"sub": "s", "aud": provider.client_id, "iat": 1, "exp": 2**40, "nonce": "n"}
    token = CodeIDToken({**base, **claims}, {"alg": "RS256"}, claims_options(provider), {"nonce": "n"})
    token.validate()


def test_microsoft_tokens_must_carry_their_own_tenants_issuer():
    provider = microsoft()
    validate(provider, iss=f"https://login.microsoftonline.com/{TENANT}/v2.0", tid=TENANT)
    other = "00000000-0000-0000-0000-000000000001"
    with pytest.raises(InvalidClaimError):
        validate(provider, iss=f"https://login.microsoftonline.com/{TENANT}/v2.0", tid=other)
    with pytest.raises(InvalidClaimError):
        validate(provider, iss=f"https://login.microsoftonline.com/{TENANT}/v2.0")  # no tid
    with pytest.raises(InvalidClaimError):
        validate(provider, iss="https://login.microsoftonline.com/common/v2.0", tid="common")
    with pytest.raises(InvalidClaimError):
        validate(provider, iss="https://evil.example/x/v2.0", tid=TENANT)
    with pytest.raises(MissingClaimError):
        validate(provider, tid=TENANT)  # no iss at all


def test_exact_issuer_and_audience_are_essential():
    provider = Provider("corp", "Corp", "https://id.example", "client-1", "s")
    validate(provider, iss="https://id.example")
    with pytest.raises(InvalidClaimError):
        validate(provider, iss="https://id.example/")
    with pytest.raises(InvalidClaimError):
        validate(provider, iss="https://id.example", aud="client-2")
    with pytest.raises(MissingClaimError):
        validate(provider, iss="https://id.example", aud=None)


def metadata(**extra):
    base = {
        "issuer": "https://id.example",
        "authorization_endpoint": "https://id.example/auth",
        "token_endpoint": "https://id.example/token",
        "jwks_uri": "https://id.example/jwks",
    }
    return {**base, **extra}


@pytest.mark.parametrize(
    ("advertised", "pinned"),
    [
        (["RS256", "HS256", "none"], ["RS256"]),
        (["none"], ["RS256"]),
        (None, ["RS256"]),
        ("RS256", ["RS256"]),
        (["ES256", "PS256", "EdDSA", "HS512"], ["ES256", "PS256"]),
    ],
)
def test_id_token_algorithms_are_pinned_to_the_allowlist(advertised, pinned):
    provider = Provider("corp", "Corp", "https://id.example", "c", "s")
    checked = checked_metadata(metadata(id_token_signing_alg_values_supported=advertised), provider)
    assert checked["id_token_signing_alg_values_supported"] == pinned


def test_keys_come_only_from_jwks_uri():
    provider = Provider("corp", "Corp", "https://id.example", "c", "s")
    assert "jwks" not in checked_metadata(metadata(jwks={"keys": []}), provider)


@pytest.mark.parametrize(
    "document",
    [
        [],
        metadata(issuer="https://id.example/"),
        metadata(jwks_uri=None),
        metadata(authorization_endpoint="javascript:alert(1)"),
        metadata(token_endpoint=["https://id.example/token"]),
    ],
)
def test_unusable_discovery_documents_are_refused(document):
    with pytest.raises(ProviderError):
        checked_metadata(document, Provider("corp", "Corp", "https://id.example", "c", "s"))


def test_microsoft_common_discovery_names_the_tenant_placeholder():
    document = metadata(issuer="https://login.microsoftonline.com/{tenantid}/v2.0")
    assert checked_metadata(document, microsoft())["issuer"] == document["issuer"]


@pytest.mark.parametrize(
    ("methods", "chosen"),
    [
        (None, "client_secret_basic"),
        (["client_secret_post"], "client_secret_post"),
        (["client_secret_basic", "client_secret_post"], "client_secret_basic"),
        (["private_key_jwt"], "client_secret_basic"),
    ],
)
def test_client_authentication_follows_what_the_provider_takes(methods, chosen):
    assert auth_method({"token_endpoint_auth_methods_supported": methods}) == chosen


@pytest.mark.parametrize(
    ("candidates", "chosen"),
    [
        (("alice", "Al", "Alice A"), "alice"),
        ((None, "Al", "Alice A"), "Al"),
        (("", "  ", "Alice A"), "Alice-A"),
        (("!!!", None, None), None),
        ((None, None, None), None),
    ],
)
def test_first_nickname_takes_the_first_usable_candidate(candidates, chosen):
    assert first_nickname(*candidates) == chosen


@pytest.mark.e2e
def test_sites_without_openid_connect_do_not_load_authlib():
    """Workers of a site with no OpenID Connect provider stay small: Authlib is never imported."""

    script = (
        "import sys\n"
        "from app import create_app\n"
        "app = create_app('production', {'SECRET_KEY': 'x' * 40, 'SQLALCHEMY_DATABASE_URI': 'sqlite://'})\n"
        "client = app.test_client()\n"
        "assert client.get('/login').status_code == 200\n"
        "client.post('/login/oidc/google')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('authlib', 'joserfc'))}))\n"
    )
    lines = python_lines(script)
    assert lines[-1] == "[]"


@pytest.mark.e2e
def test_sites_with_openid_connect_load_the_token_code_only_for_a_callback():
    """A worker of a site offering OpenID Connect loads none of Authlib to serve pages; starting a sign-in
    loads Authlib's small parts for state, nonce and PKCE, and only a callback loads its client with
    joserfc and cryptography's compiled core (about 10 MB)."""

    script = textwrap.dedent(
        """
        import re, sys
        from app import create_app

        def loaded():
            # cryptography's compiled core, not its bare package (redis looks that up to see if it is there)
            heavy = ('authlib', 'authlib.integrations', 'joserfc', 'cryptography.hazmat.bindings')
            return sorted(name for name in heavy if name in sys.modules)

        settings = {'SECRET_KEY': 'x' * 40, 'SQLALCHEMY_DATABASE_URI': 'sqlite://', 'LOG_FORMAT': 'text'}
        client = create_app('production', settings).test_client()
        page = client.get('/login', base_url='https://localhost')
        assert page.status_code == 200 and b'Sign in with Corp' in page.data
        assert client.get('/', base_url='https://localhost').status_code in (200, 503)
        print(loaded())
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data).group(1).decode()
        started = client.post(
            '/login/oidc/corp',
            data={'csrf_token': token},
            base_url='https://localhost',
            headers={'Referer': 'https://localhost/login'},
        )
        assert started.status_code == 302, started.status_code
        print(loaded())
        answer = client.get('/login/oidc/corp/callback?code=c&state=s', base_url='https://localhost')
        assert answer.status_code == 302, answer.status_code
        print(loaded())
        """
    )
    environ = {
        "OIDC_CORP_ISSUER": "https://127.0.0.1:9",  # a private address: refused before any connection
        "OIDC_CORP_LABEL": "Corp",
        "OIDC_CORP_CLIENT_ID": "id-1",
        "OIDC_CORP_CLIENT_SECRET": "s3cret",
    }
    env = {**os.environ, **environ}
    lines = python_lines(script, env)
    pages, start, callback = lines[-3:]
    assert pages == "[]"
    assert start == "['authlib']"
    assert callback == "['authlib', 'authlib.integrations', 'cryptography.hazmat.bindings', 'joserfc']"


def test_a_start_keeps_what_authlibs_own_authorize_redirect_keeps(monkeypatch):
    """The start (app.auth.oidc.client) redirects to the very URL Authlib's Flask client would, and keeps
    the pending sign-in in the session exactly as Authlib's client does and reads back at the callback."""
    import authlib.integrations.base_client.sync_app as authlib_app
    import authlib.oauth2.client as authlib_client
    from flask import session

    import app.auth.oidc.client as start
    from app.auth.oidc.callback import client_for

    corp = {"ISSUER": "https://id.example", "LABEL": "Corp", "CLIENT_ID": "id-1", "CLIENT_SECRET": "s"}
    settings = {**SECRETS, **{f"OIDC_CORP_{key}": value for key, value in corp.items()}}
    site = create_app("production", settings)

    def deterministic_tokens():
        drawn = iter(range(100))
        return lambda length=30: f"token{next(drawn)}-".ljust(length, "x")

    def pending_sign_in(begin):
        with site.test_request_context("/login/oidc/corp", base_url="https://localhost", method="POST"):
            site.extensions[start.METADATA_EXTENSION] = {
                "corp": {**metadata(response_modes_supported=["query"]), "_loaded_at": time.time()}
            }
            provider = oidc_provider("corp")
            response = begin(provider)
            pending = {key: value for key, value in session.items() if key.startswith("_state_")}
        assert len(pending) == 1
        ((key, value),) = pending.items()
        assert value["exp"] == pytest.approx(time.time() + 3600, abs=60)
        return response.status_code, response.headers["Location"], key, value["data"]

    monkeypatch.setattr(start, "generate_token", deterministic_tokens())
    ours = pending_sign_in(start.begin_sign_in)
    tokens = deterministic_tokens()
    monkeypatch.setattr(authlib_app, "generate_token", tokens)
    monkeypatch.setattr(authlib_client, "generate_token", tokens)
    authlibs = pending_sign_in(
        lambda provider: client_for(provider).authorize_redirect(start.callback_url(provider))
    )
    assert ours == authlibs
    status, location, key, data = ours
    assert status == 302 and location.startswith("https://id.example/auth?response_type=code&client_id=id-1&")
    assert (
        list(data) == ["redirect_uri", "code_verifier", "nonce", "url"]
        and key == "_state_corp_token2-" + "x" * 23
    )
