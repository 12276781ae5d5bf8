"""The CSRF token in the pages' forms: Flask-WTF's token, signed without a zlib attempt that never wins.

Flask-WTF signs the session's token with itsdangerous's URL-safe serializer, which first tries zlib
on every payload and keeps the result when shorter. A token's payload is its 40 hex digits as JSON
(42 bytes), which zlib never shortens (its best over 200,000 random tokens: 44 bytes), and the
attempt (a compressor set up and torn down) was most of the cost of a signed-in page's token.
Hand-written because Flask-WTF builds its serializer inside generate_csrf, with no way to pass
another: the rest of generate_csrf is kept as it is (the token in the session under
WTF_CSRF_FIELD_NAME, one signed token per request in `g`), and Flask-WTF still checks every token.
"""

import hashlib
import os

from flask import Flask, current_app, g, session
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

CSRF_SALT = "wtf-csrf-token"  # Flask-WTF's, so that its validate_csrf accepts these tokens
SERIALIZERS = "microblog.csrf_serializers"


class UncompressedSerializer(URLSafeTimedSerializer):
    """itsdangerous's URL-safe timed serializer, without trying zlib on the payload.

    Its tokens are what URLSafeTimedSerializer makes whenever zlib would not shorten the payload, and
    it reads both kinds.
    """

    def dump_payload(self, obj: object) -> bytes:
        """The JSON payload, base64-encoded as the URL-safe serializer does (never zlib'd)."""
        return base64_encode(Serializer.dump_payload(self, obj))


def token_serializer(secret_key: str | bytes) -> UncompressedSerializer:
    """The app's serializer for a secret key, built once (a key rotation builds another)."""
    serializers: dict[str | bytes, UncompressedSerializer] = current_app.extensions[SERIALIZERS]
    serializer = serializers.get(secret_key)
    if serializer is None:
        serializer = serializers[secret_key] = UncompressedSerializer(secret_key, salt=CSRF_SALT)
    return serializer


def csrf_token() -> str:
    """This request's signed CSRF token, as Flask-WTF's generate_csrf makes it (same session key,
    same per-request cache in `g`, so Flask-WTF's forms share it)."""
    field_name = current_app.config["WTF_CSRF_FIELD_NAME"]
    token: str | None = g.get(field_name)
    if token is None:
        secret_key = current_app.config.get("WTF_CSRF_SECRET_KEY", current_app.secret_key)
        if secret_key is None:
            raise RuntimeError("A secret key is required to use CSRF.")
        serializer = token_serializer(secret_key)
        if field_name not in session:
            session[field_name] = new_session_token()
        try:
            token = serializer.dumps(session[field_name])
        except TypeError:  # something else under that key
            session[field_name] = new_session_token()
            token = serializer.dumps(session[field_name])
        setattr(g, field_name, token)
    return token


def new_session_token() -> str:
    """A new raw token for the session, made as Flask-WTF makes it."""
    return hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 - random input; as Flask-WTF


def use_csrf_tokens(app: Flask) -> None:
    """Give the templates csrf_token() in place of Flask-WTF's generate_csrf (after csrf.init_app)."""
    app.extensions[SERIALIZERS] = {}
    app.jinja_env.globals["csrf_token"] = csrf_token
    # Flask-WTF's context processor also puts generate_csrf in every template's context, which
    # would win over the global; a later processor wins over it.
    app.context_processor(lambda: {"csrf_token": csrf_token})
