"""The one safe-redirect check used by every redirect that takes user input."""

from urllib.parse import urlsplit

from flask import redirect, url_for
from werkzeug.wrappers import Response

from app.text import has_control_characters


def safe_next(target: object) -> str | None:
    """Return target if it is a same-site relative path, else None.

    Browsers are forgiving about what they treat as another host: `//x`,
    `/\\x`, `\\\\x`, `https:x`, leading blanks or control characters all
    leave the site. So only a plain absolute path with no scheme, no host,
    no backslash and no control or blank character passes.
    """
    if not isinstance(target, str) or not target or len(target) > 2048:
        return None
    if has_control_characters(target) or " " in target or "\\" in target:
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def redirect_next(target: object, fallback: str = "main.index") -> Response:
    """Redirect to target when it is safe, else to the fallback endpoint."""
    return redirect(safe_next(target) or url_for(fallback))
