"""Sign-in steps that wait on providers: one outbound budget per step, a few steps per client at once.

A sign-in start or callback may make several fetches in a row (Yadis, the page, an XRDS location,
redirects, an association, check_authentication, a token, keys, UserInfo). All of them share one
deadline, OUTBOUND_TIMEOUT seconds from the start of the step. And each client address may have only
SIGN_IN_STEPS_PER_CLIENT such steps in progress at once, counted in the rate-limit storage (so across
workers when that is Redis); the rest get a plain "busy, try again" page straight away, so a tarpit
provider cannot hold every worker thread.
"""

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from flask import current_app, render_template, request
from limits.storage import MemoryStorage, Storage

from app.extensions import limiter
from app.fetcher import outbound_budget

log = logging.getLogger(__name__)
BUSY_MESSAGE = (
    "Sign-in is busy for your address right now: earlier sign-ins are still waiting for their "
    "providers. Please try again in a few seconds."
)
_local_counts = MemoryStorage()  # used only while the shared storage cannot be reached


def _slot_key() -> str:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "microblog")
    return f"{prefix}/sign-in-steps/{request.remote_addr or 'unknown'}"


def _counts() -> Storage:
    """The storage Flask-Limiter is using now (its in-memory fallback while Redis is down)."""
    try:
        return limiter.limiter.storage
    except Exception:  # noqa: BLE001 - the limiter is not set up for this app
        return _local_counts


def _add(storage: Storage, key: str, amount: int, expiry: int) -> int:
    try:
        return storage.incr(key, expiry, amount=amount)
    except Exception as exc:  # noqa: BLE001 - any storage failure: count in this process instead
        log.warning("Sign-in step counter storage failed (%s); counting in this process", exc)
        return _local_counts.incr(key, expiry, amount=amount)


@contextlib.contextmanager
def client_slot(cap: int, expiry: int) -> Iterator[bool]:
    """Take one of the client's `cap` slots for the block; yields False (and takes none) when all are busy."""
    storage, key = _counts(), _slot_key()
    if _add(storage, key, 1, expiry) > cap:
        _add(storage, key, -1, expiry)
        yield False
        return
    try:
        yield True
    finally:
        _add(storage, key, -1, expiry)


def busy_page() -> tuple[str, int, dict[str, str]]:
    """The plain "busy, try again" answer (429, with Retry-After)."""
    page = render_template("errors/error.html", code=429, title="Busy, try again", message=BUSY_MESSAGE)
    return page, 429, {"Retry-After": "5"}


def sign_in_step(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run a sign-in view that talks to providers under the step budget and the per-client cap."""

    @functools.wraps(view)
    def step(*args: Any, **kwargs: Any) -> Any:
        config = current_app.config
        budget = float(config["OUTBOUND_TIMEOUT"])
        with client_slot(int(config["SIGN_IN_STEPS_PER_CLIENT"]), int(2 * budget) + 30) as granted:
            if not granted:
                log.warning("Sign-in step refused: %s has too many waiting on providers", request.remote_addr)
                return busy_page()
            with outbound_budget(budget):
                return view(*args, **kwargs)

    return step
