"""OpenID Connect discovery must not downgrade an https issuer's endpoints to http."""

import pytest

from app.auth.oidc.client import ProviderError, checked_metadata
from app.providers import Provider

ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint")


def document(issuer, **overrides):
    base = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "userinfo_endpoint": f"{issuer}/userinfo",
    }
    return {**base, **overrides}


def provider(issuer):
    return Provider(name="p", label="P", issuer=issuer, client_id="c", client_secret="s")


@pytest.mark.parametrize("key", ENDPOINTS)
def test_https_issuer_with_an_http_endpoint_is_refused(app, key):
    issuer = "https://accounts.example"
    downgraded = document(issuer, **{key: "http://accounts.example/" + key})
    with app.app_context(), pytest.raises(ProviderError, match=key):
        checked_metadata(downgraded, provider(issuer))


def test_https_issuer_with_https_endpoints_is_accepted(app):
    issuer = "https://accounts.example"
    with app.app_context():
        assert checked_metadata(document(issuer), provider(issuer))["token_endpoint"].startswith("https://")


def test_http_issuer_may_use_http_endpoints_only_where_private_hosts_are_allowed(app):
    issuer = "http://127.0.0.1:9999"
    with app.app_context():
        assert checked_metadata(document(issuer), provider(issuer))["jwks_uri"] == issuer + "/jwks"
        app.config["OPENID_ALLOW_PRIVATE_HOSTS"] = False  # as in production
        with pytest.raises(ProviderError, match="authorization_endpoint"):
            checked_metadata(document(issuer), provider(issuer))
