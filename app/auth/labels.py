"""Readable names for sign-in identities: which provider, never the identifier itself."""

from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for

from app.models import OPENID2_ISSUER

KNOWN_PROVIDERS = {
    "steamcommunity.com": "Steam",
    "login.ubuntu.com": "Ubuntu One",
    "login.launchpad.net": "Launchpad",
    "accounts.google.com": "Google",
    "login.microsoftonline.com": "Microsoft",
    "gitlab.com": "GitLab",
    "api.login.yahoo.com": "Yahoo",
}
LOCAL_OIDC_LABEL = "Local test provider (OpenID Connect)"


def host_of(url):
    """The lower-case host name of a URL, or ''."""
    try:
        return (urlsplit(url or "").hostname or "").lower()
    except ValueError:
        return ""


def local_provider_prefix():
    """The URL prefix of the local test provider's identities, when it is enabled here."""
    if not current_app.config.get("DEV_OPENID_PROVIDER") or not has_request_context():
        return None
    return url_for("devprovider.op_identifier", _external=True)


def configured_name(issuer, subject):
    """The name the site's configuration gives the provider of this identity, or None."""
    if issuer == OPENID2_ISSUER:
        prefix = local_provider_prefix()
        for provider in current_app.config.get("OPENID_PROVIDERS", []):
            if provider.get("url") == "local":
                if prefix and subject.startswith(prefix):
                    return provider.get("name")
            elif host_of(provider.get("url")) == host_of(subject):
                return provider.get("name")
        return None
    for provider in (current_app.config.get("OIDC_PROVIDERS") or {}).values():
        if provider.get("issuer") == issuer:
            return provider.get("label")
    if local_oidc_issuer() == issuer:
        return LOCAL_OIDC_LABEL
    return None


def local_oidc_issuer():
    """The issuer of the local OpenID Connect test provider, when it is enabled here."""
    if not current_app.config.get("DEV_OPENID_PROVIDER") or not has_request_context():
        return None
    from app.devoidc.provider import issuer_url

    return issuer_url()


def identity_label(issuer, subject):
    """A person-readable label such as "Steam" or "OpenID (example.org)" for an identity."""
    name = configured_name(issuer, subject)
    if name:
        return name
    host = host_of(subject if issuer == OPENID2_ISSUER else issuer)
    if host in KNOWN_PROVIDERS:
        return KNOWN_PROVIDERS[host]
    if issuer == OPENID2_ISSUER:
        return f"OpenID ({host})" if host else "OpenID"
    return host or "OpenID Connect"
