"""OpenID Connect providers this site offers, read from the config (no Authlib needed here).

The Authlib client and its checks live in app.auth.oidc_client, imported only when someone signs
in with OpenID Connect, so workers of a site with no such provider do not load Authlib.
"""

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass

from flask import current_app

from app.auth.labels import LOCAL_OIDC_LABEL

log = logging.getLogger(__name__)

SCOPES = "openid email profile"
# Asymmetric algorithms only: never "none", never HS* (which would key the HMAC with a public key).
ALLOWED_ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
DEFAULT_ID_TOKEN_ALG = "RS256"  # noqa: S105 - an algorithm name; Discovery's default when none is listed
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
PROFILE_CLAIMS = ("preferred_username", "nickname", "name", "email", "email_verified")
SUBJECT_MAX = 255  # OpenID Connect Core 2: sub is at most 255 ASCII characters
LOCAL_PROVIDER = "local"
MAX_PENDING_SIGN_INS = 3  # per browser; each costs about 200 bytes of session cookie
STATE_KEY_PREFIX = "_state_"  # Authlib keeps each pending sign-in in the session under this prefix
LOCAL_CLIENT_ID = "microblog-local"
_TENANT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class SignInFailed(Exception):  # noqa: N818 - an outcome, not a programming error
    """OpenID Connect sign-in did not succeed; str(exc) is a plain message for the person."""


class ProviderError(Exception):
    """A provider's discovery document cannot be used; str(exc) says why."""


class AnswerRejected(Exception):  # noqa: N818 - an outcome, not a programming error
    """A provider's answer failed a check that Authlib does not make; str(exc) says which."""


@dataclass(frozen=True)
class Provider:
    """An OpenID Connect provider this site is registered with."""

    name: str
    label: str
    issuer: str
    client_id: str
    client_secret: str
    issuer_template: str | None = None  # multi-tenant: the issuer depends on the token's `tid`

    @property
    def metadata_url(self):
        """Discovery: the issuer (without a trailing slash) + /.well-known/openid-configuration."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def accepts_issuer(self, iss, claims):
        """Whether iss is this provider's issuer (for multi-tenant ones: the token's tenant's)."""
        if self.issuer_template is None:
            return iss == self.issuer
        tid = claims.get("tid")
        return (
            isinstance(tid, str)
            and bool(_TENANT_ID.match(tid))
            and iss == self.issuer_template.format(tid=tid)
        )

    def accepts_metadata_issuer(self, issuer):
        """Whether a discovery document's issuer belongs to this provider (exactly, or its template)."""
        if self.issuer_template is not None:
            return issuer in (self.issuer, self.issuer_template.replace("{tid}", "{tenantid}"))
        return issuer == self.issuer


# --- Providers -------------------------------------------------------------------------------------


def configured_providers():
    """The providers offered on the login page, configured ones first, then the local test one."""
    providers = [
        Provider(
            name=name,
            label=settings["label"],
            issuer=settings["issuer"],
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
            issuer_template=settings.get("issuer_template"),
        )
        for name, settings in current_app.config["OIDC_PROVIDERS"].items()
    ]
    if current_app.config["DEV_OPENID_PROVIDER"]:
        providers.append(local_provider())
    return providers


def get_provider(name):
    """The provider with that (URL) name, or None."""
    return next((p for p in configured_providers() if p.name == name), None)


def local_provider():
    """The development provider under /dev-oidc/ on this very site (see app.devoidc)."""
    from app.devoidc.provider import issuer_url

    return Provider(
        name=LOCAL_PROVIDER,
        label=LOCAL_OIDC_LABEL,
        issuer=issuer_url(),
        client_id=LOCAL_CLIENT_ID,
        client_secret=local_client_secret(),
    )


def local_client_secret():
    """The local client's secret, derived from SECRET_KEY so both sides agree without storing it."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"microblog dev-oidc client secret", hashlib.sha256).hexdigest()
