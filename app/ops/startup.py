"""Start-up failures in one plain line each: the database cannot be used, Redis does not answer."""

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

HINTS = (
    ("does not exist", "create it first, as the README's production section shows"),
    ("password authentication failed", "check the user and password in DATABASE_URL"),
    ("connection refused", "is PostgreSQL running, and are DATABASE_URL's host and port right?"),
    ("unable to open database file", "check that the SQLite file's directory exists and is writable"),
)


def safe_url(url: str) -> str:
    """A database URL fit for a log line: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def database_error_line(exc: SQLAlchemyError, url: str) -> str:
    """One line saying which database could not be used, why (the driver's first line) and what to do."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    reason = " ".join(lines[0].split()) if lines else type(original).__name__
    hint = next((advice for needle, advice in HINTS if needle in reason.lower()), None)
    line = f"cannot use the database {safe_url(url)}: {reason}"
    return f"{line} ({hint})" if hint else line


def redis_error_line(uri: str) -> str | None:
    """None when the rate-limit storage answers (or is memory://), else one line saying it does not."""
    if not uri.startswith(("redis://", "rediss://", "redis+")):
        return None
    from limits.storage import storage_from_string

    if storage_from_string(uri).check():
        return None
    return (
        f"RATELIMIT_STORAGE_URI {uri.split('@')[-1]}: Redis does not answer there "
        "(is redis-server running, and are the host, port and database number right?)"
    )
