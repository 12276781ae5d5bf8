"""Template filters for dates and avatars, available in every template."""

import zlib
from datetime import UTC, datetime

from app.main import bp

AVATAR_TONES = 6


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime (SQLite hands back naive ones)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@bp.app_template_filter("isodate")
def isodate(moment: datetime) -> str:
    """Machine-readable time for a <time datetime> attribute."""
    return as_utc(moment).isoformat(timespec="seconds")


@bp.app_template_filter("fulldate")
def fulldate(moment: datetime) -> str:
    """A full, unambiguous date and time, e.g. '3 March 2026, 14:05 UTC'."""
    moment = as_utc(moment)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


@bp.app_template_filter("monthyear")
def monthyear(moment: datetime) -> str:
    """Month and year, e.g. 'March 2026'."""
    return f"{as_utc(moment):%B %Y}"


@bp.app_template_filter("ago")
def ago(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, in words, for recent times; the date for older ones."""
    moment = as_utc(moment)
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        count = seconds // size
        if count and (unit != "day" or count < 7):
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return f"{moment.day} {moment:%b %Y}"


@bp.app_template_filter("avatar_tone")
def avatar_tone(name: str | None) -> int:
    """A stable colour number for a name's avatar."""
    return zlib.crc32((name or "").lower().encode()) % AVATAR_TONES
