"""Template filters for dates and avatars, available in every template."""

import zlib
from datetime import UTC, datetime

from app.main import bp
from app.models import as_utc

AVATAR_TONES = 6
MINUTE, HOUR, DAY = 60, 3600, 86400  # seconds
# English month names whatever the process locale (strftime's %b follows it).
MONTH_ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


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
    """How long ago, in words, for the last day; the date for anything older.

    Under a minute (or in the future, from another clock running ahead): "just now".
    Under an hour: "1 minute ago", "59 minutes ago". Under a day: "1 hour ago", "23 hours ago".
    From 24 hours on, the day: "3 Dec" in the current year (UTC), "3 Dec 2025" in another.
    The exact time stays in the <time> element's datetime and title.
    """
    moment = as_utc(moment)
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    if seconds < MINUTE:
        return "just now"
    if seconds < DAY:
        count, unit = (int(seconds // MINUTE), "minute") if seconds < HOUR else (int(seconds // HOUR), "hour")
        return f"{count} {unit} ago" if count == 1 else f"{count} {unit}s ago"
    day = f"{moment.day} {MONTH_ABBREVIATIONS[moment.month - 1]}"
    return day if moment.year == now.year else f"{day} {moment.year}"


@bp.app_template_filter("avatar_tone")
def avatar_tone(name: str | None) -> int:
    """A stable colour number for a name's avatar."""
    return zlib.crc32((name or "").lower().encode()) % AVATAR_TONES
