"""Identity labels name the provider and never show the identifier."""

import pytest

from app import create_app
from app.providers import identity_label


@pytest.mark.parametrize(
    ("issuer", "subject", "label"),
    [
        ("openid2", "https://steamcommunity.com/openid/id/7656", "Steam"),
        ("openid2", "https://login.ubuntu.com/+id/x", "Ubuntu One"),
        ("openid2", "https://login.launchpad.net/+id/x", "Launchpad"),
        ("openid2", "https://Me.Example.org/openid", "OpenID (me.example.org)"),
        ("openid2", "not a url", "OpenID"),
        ("openid2", "http://localhost/dev-openid/bob", "Local test provider"),
        ("https://accounts.google.com", "123", "Google"),
        ("https://api.login.yahoo.com", "123", "Yahoo"),
        ("http://localhost/dev-oidc", "alice", "Local test provider (OpenID Connect)"),
        ("https://issuer.example/realms/x", "123", "issuer.example"),
        ("urn:odd-issuer", "123", "OpenID Connect"),
    ],
)
def test_identity_label(app, issuer, subject, label):
    with app.test_request_context("/"):
        assert identity_label(issuer, subject) == label


def test_configured_provider_names_win(app):
    app.config["OPENID_PROVIDERS"] = [{"name": "My Company", "url": "https://id.company.example/"}]
    app.config["OIDC_PROVIDERS"] = {
        "company": {"label": "Company SSO", "issuer": "https://sso.company.example", "client_id": "c"}
    }
    with app.test_request_context("/"):
        assert identity_label("openid2", "https://id.company.example/u/1") == "My Company"
        assert identity_label("https://sso.company.example", "1") == "Company SSO"


def test_local_provider_is_not_named_when_disabled(database_url):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url, "DEV_OPENID_PROVIDER": False})
    with app.test_request_context("/"):
        assert identity_label("openid2", "http://localhost/dev-openid/bob") == "OpenID (localhost)"
