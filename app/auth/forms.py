"""Sign-in forms and the checks on what a visitor types."""

import re
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from openid.consumer.discover import normalizeURL
from openid.yadis.discover import DiscoveryFailure
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import Length, Optional, ValidationError

from app.nicknames import nickname_problem
from app.text import has_control_characters

IDENTIFIER_MAX = 255
USERNAME_PLACEHOLDER = "<username>"
XRI_LEADING_CHARS = "=@+$!("
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?!\d)")  # a scheme, not host:port


class IdentifierError(ValueError):
    """The identifier cannot be used; the message is safe to show."""


def normalise_identifier(raw: str | None) -> str:
    """Validate an OpenID identifier and normalise it as python3-openid does.

    Accepts http(s) URLs and bare names such as `example.com` (which become
    `http://example.com/`). XRIs are refused: their public resolver is gone.
    """
    value = (raw or "").strip()
    if not value:
        raise IdentifierError("Please enter your OpenID or choose a provider.")
    if len(value) > IDENTIFIER_MAX:
        raise IdentifierError(f"That OpenID is too long (at most {IDENTIFIER_MAX} characters).")
    if has_control_characters(value) or " " in value:
        raise IdentifierError("That OpenID contains characters a web address cannot have.")
    if value.startswith("xri://") or value[0] in XRI_LEADING_CHARS:
        raise IdentifierError("XRI identifiers are not supported; please use a web address.")
    scheme = _SCHEME.match(value)
    if scheme and scheme.group(1).lower() not in ("http", "https"):
        raise IdentifierError("An OpenID must be an http or https address.")
    try:
        parts = urlsplit(value)
        if not (parts.scheme and parts.netloc):
            value = "http://" + value  # python3-openid's discoverURI does the same
        if not urlsplit(value).hostname:
            raise ValueError("no host")
        normalised = normalizeURL(value)
    except (DiscoveryFailure, ValueError):
        raise IdentifierError("That does not look like a valid OpenID address.") from None
    if len(normalised) > IDENTIFIER_MAX + 16:
        raise IdentifierError(f"That OpenID is too long (at most {IDENTIFIER_MAX} characters).")
    return normalised


def identifier_from_provider(template: str, username: str | None) -> str:
    """Fill a provider's identifier template with the username it asks for."""
    if USERNAME_PLACEHOLDER not in template:
        return template
    username = (username or "").strip()
    if not username:
        raise IdentifierError("Please enter your username for that provider.")
    if len(username) > 64 or not all(ch.isalnum() or ch in "_.-" for ch in username):
        raise IdentifierError("A username may use letters, digits, '_', '.' and '-' only.")
    return template.replace(USERNAME_PLACEHOLDER, username)


class LoginForm(FlaskForm):
    """The OpenID sign-in form: an identifier (or a provider button) and remember-me."""

    openid = StringField("Your OpenID", validators=[Optional(), Length(max=IDENTIFIER_MAX * 2)])
    remember_me = BooleanField("Keep me signed in", default=False)
    next = HiddenField()


class NicknameForm(FlaskForm):
    """The first sign-in's "Choose your nickname" step."""

    nickname = StringField(
        "Nickname",
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        description="Letters, digits, '_', '.' or '-'. Others see it on your posts and profile.",
    )

    def validate_nickname(self, field: StringField) -> None:
        problem = nickname_problem(field.data)
        if problem:
            raise ValidationError(problem)
