"""Small checks on text that people and providers send."""

import re
import unicodedata

EMAIL_MAX = 254
_EMAIL_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")


def has_control_characters(text: str, allow: str = "") -> bool:
    """Whether text holds a control character (C0, DEL or C1), other than those in `allow`."""
    return any(unicodedata.category(ch) == "Cc" and ch not in allow for ch in text)


def clean_email(raw: object) -> str | None:
    """Return a plausible email address as profile data, or None. Never used to find anyone."""
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if len(raw) > EMAIL_MAX or not _EMAIL_SHAPE.match(raw):
        return None
    if has_control_characters(raw):
        return None
    return raw
