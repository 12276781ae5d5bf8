"""The one provider registry: every sign-in provider the site knows, as one `Provider` object each.

Two sources feed it: `WELL_KNOWN`, the facts about public providers (labels, presets, nickname
hints), and the site's configuration (`OPENID_PROVIDERS`, `OIDC_PROVIDERS`), which says which
providers this site offers. The login page, identity labels, nickname suggestions and the
OpenID Connect client all read it. This module imports no other module of the project, so
config.py may read the presets from it.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

OPENID2 = "openid2"
OIDC = "oidc"
OPENID2_ISSUER = "openid2"  # the `issuer` of every OpenID 2.0 identity (the subject is its claimed id)
USERNAME_PLACEHOLDER = "<username>"
_TENANT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Provider:
    """A sign-in provider: who it is, how to reach it, and how the site shows it.

    OpenID Connect: `issuer` is the provider's issuer URL and the client fields are this site's
    registration. OpenID 2.0: `issuer` is always OPENID2_ISSUER and `url` is the address to start
    from (an OP identifier, or a template with <username>).
    """

    name: str
    label: str
    issuer: str
    client_id: str = ""
    client_secret: str = ""
    issuer_template: str | None = None  # multi-tenant: the issuer depends on the token's `tid`
    protocol: str = OIDC
    url: str = ""
    icon: str = ""  # the letter on its button; the label's first letter when empty
    nickname_hint: str = ""  # prefix of nicknames derived from its identifiers ("steam-7656…")

    @property
    def icon_letter(self) -> str:
        """The letter shown on the provider's button."""
        return (self.icon or self.label[:1]).upper()

    @property
    def host(self) -> str:
        """The lower-case host the provider's identities (OpenID 2.0) or issuer (OIDC) live on."""
        return host_of(self.url if self.protocol == OPENID2 else self.issuer)

    @property
    def needs_username(self) -> bool:
        """Whether the person types a username to build the identifier (OpenID 2.0 templates)."""
        return USERNAME_PLACEHOLDER in self.url

    @property
    def metadata_url(self) -> str:
        """Discovery: the issuer (without a trailing slash) + /.well-known/openid-configuration."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def accepts_issuer(self, iss: object, claims: Mapping[str, Any]) -> bool:
        """Whether iss is this provider's issuer (for multi-tenant ones: the token's tenant's)."""
        if self.issuer_template is None:
            return iss == self.issuer
        tid = claims.get("tid")
        return (
            isinstance(tid, str)
            and bool(_TENANT_ID.match(tid))
            and iss == self.issuer_template.format(tid=tid)
        )

    def accepts_metadata_issuer(self, issuer: object) -> bool:
        """Whether a discovery document's issuer belongs to this provider (exactly, or its template)."""
        if self.issuer_template is not None:
            return issuer in (self.issuer, self.issuer_template.replace("{tid}", "{tenantid}"))
        return issuer == self.issuer

    def owns_identity(self, issuer: str, subject: str) -> bool:
        """Whether a verified identity (issuer, subject) was issued by this provider."""
        if self.protocol == OIDC:
            return issuer == self.issuer
        if issuer != OPENID2_ISSUER or not self.host or host_of(subject) != self.host:
            return False
        prefix = self.url.partition(USERNAME_PLACEHOLDER)[0] if self.needs_username else ""
        return subject.startswith(prefix)


def _openid2(name: str, label: str, url: str, hint: str) -> Provider:
    return Provider(name, label, OPENID2_ISSUER, protocol=OPENID2, url=url, nickname_hint=hint)


# Facts about public providers. OpenID Connect ones are presets: OIDC_<NAME>_CLIENT_ID and
# _CLIENT_SECRET are enough. Microsoft's "common" endpoint serves every tenant: its ID tokens carry
# the signing tenant's own issuer, so it is checked against issuer_template with the token's `tid`.
WELL_KNOWN: tuple[Provider, ...] = (
    _openid2("steam", "Steam", "https://steamcommunity.com/openid", "steam"),
    _openid2("ubuntu", "Ubuntu One", "https://login.ubuntu.com", "ubuntu"),
    _openid2("launchpad", "Launchpad", "https://login.launchpad.net", "launchpad"),
    Provider("yahoo", "Yahoo", "https://api.login.yahoo.com"),
    Provider("google", "Google", "https://accounts.google.com"),
    Provider(
        "microsoft",
        "Microsoft",
        "https://login.microsoftonline.com/common/v2.0",
        issuer_template="https://login.microsoftonline.com/{tid}/v2.0",
    ),
    Provider("gitlab", "GitLab", "https://gitlab.com"),
)
OIDC_PRESETS: dict[str, Provider] = {p.name: p for p in WELL_KNOWN if p.protocol == OIDC}
DEFAULT_OPENID_PROVIDERS = [{"name": p.label, "url": p.url} for p in WELL_KNOWN[:2]]  # Steam, Ubuntu One


def host_of(url: str | None) -> str:
    """The lower-case host name of a URL, or ''."""
    try:
        return (urlsplit(url or "").hostname or "").lower()
    except ValueError:
        return ""


# --- The site's providers, from its configuration ---------------------------------------------------


def openid2_providers(config: Mapping[str, Any] | None = None) -> list[Provider]:
    """The OpenID 2.0 providers offered on the login page, in the configured order."""
    config = current_app.config if config is None else config
    known = {p.host: p for p in WELL_KNOWN if p.protocol == OPENID2}
    providers = []
    for index, entry in enumerate(config.get("OPENID_PROVIDERS") or []):
        url = str(entry.get("url", ""))
        hint = known[host_of(url)].nickname_hint if host_of(url) in known else ""
        providers.append(
            Provider(
                name=str(index),
                label=str(entry.get("name", "")),
                issuer=OPENID2_ISSUER,
                protocol=OPENID2,
                url=url,
                icon=str(entry.get("icon", "")),
                nickname_hint=hint,
            )
        )
    return providers


def oidc_providers(config: Mapping[str, Any] | None = None) -> list[Provider]:
    """The OpenID Connect providers offered on the login page, from OIDC_PROVIDERS (see config.py)."""
    config = current_app.config if config is None else config
    return [
        Provider(
            name=name,
            label=settings["label"],
            issuer=settings["issuer"],
            client_id=settings.get("client_id", ""),
            client_secret=settings.get("client_secret", ""),
            issuer_template=settings.get("issuer_template"),
            icon=settings.get("icon", ""),
        )
        for name, settings in (config.get("OIDC_PROVIDERS") or {}).items()
    ]


def oidc_provider(name: str) -> Provider | None:
    """The site's OpenID Connect provider with that (URL) name, or None."""
    return next((p for p in oidc_providers() if p.name == name), None)


def openid2_provider(index: str) -> Provider | None:
    """The site's OpenID 2.0 provider button with that index, or None."""
    return next((p for p in openid2_providers() if p.name == index), None)


# --- What the site says about an identity -----------------------------------------------------------


def provider_of(issuer: str, subject: str, candidates: Iterable[Provider] | None = None) -> Provider | None:
    """The provider (configured first, then well-known) that issued this identity, or None."""
    if candidates is None:
        candidates = [*openid2_providers(), *oidc_providers(), *WELL_KNOWN]
    return next((p for p in candidates if p.owns_identity(issuer, subject)), None)


def identity_label(issuer: str, subject: str) -> str:
    """A person-readable label such as "Steam" or "OpenID (example.org)"; never the identifier."""
    provider = provider_of(issuer, subject)
    if provider is not None:
        return provider.label
    if issuer == OPENID2_ISSUER:
        host = host_of(subject)
        return f"OpenID ({host})" if host else "OpenID"
    return host_of(issuer) or "OpenID Connect"


def nickname_hint(host: str) -> str | None:
    """The nickname prefix a well-known provider's host suggests ("steam"), or None."""
    return next((p.nickname_hint for p in WELL_KNOWN if p.nickname_hint and p.host == host), None)
