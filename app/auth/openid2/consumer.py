"""Flask-OpenID adapted to this app: database store, JSON session state, bound return_to.

Flask-OpenID gives us the SReg/AX request building and response parsing. Its
`OpenIDResponse` reads SReg and AX values through python3-openid's
`SRegResponse.fromSuccessResponse` and `ax.FetchResponse.fromSuccessResponse`
with their defaults, `signed_only=True` and `signed=True`: a nickname or email
that the provider's signature does not cover is never read (a test proves it).
We replace three of its defaults that are unsafe for a production site:

* its SessionWrapper pickles python3-openid objects into the session cookie;
  `JsonConsumerSession` stores the same state as plain JSON instead, so
  nothing read from a cookie is ever unpickled;
* its file store in a temp folder; we use `DatabaseOpenIDStore`, shared by all
  workers;
* its `next`/Referer handling; our views keep a checked `next` in the session.
"""

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeAlias, cast

from flask import Flask, current_app, request, session, url_for
from flask_openid import OpenID, OpenIDResponse
from openid.association import SessionNegotiator
from openid.consumer import consumer as openid_consumer
from openid.consumer.discover import OpenIDServiceEndpoint
from openid.store.interface import OpenIDStore
from openid.yadis.manager import YadisServiceManager
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.local import LocalProxy

from app.auth.flow import SignInFailed
from app.auth.openid2.discovery import RecentDiscoveries
from app.extensions import OPENID2_EXTENSION, db
from app.redirects import safe_next

CONSUMER_STATE_KEY = "openid_consumer"
RETURN_TO_TOKEN_KEY = "openid_rt"  # noqa: S105 (a session key, not a secret)
ASK_FOR = ["nickname", "email"]
RETURN_TO_NONCE_URL = "urn:microblog:return_to"  # spent return_to tokens share the nonce table
ATTEMPT_EXPIRED = "This sign-in attempt has expired or was not started here."
log = logging.getLogger(__name__)

# What python3-openid keeps in its per-visitor session: the endpoint being tried, or discovery state.
StoredValue: TypeAlias = OpenIDServiceEndpoint | YadisServiceManager | None

# Prefer HMAC-SHA256 whenever the provider offers it; SHA1 only as a fallback.
SHA256_FIRST = SessionNegotiator(
    [
        ("HMAC-SHA256", "DH-SHA256"),
        ("HMAC-SHA256", "no-encryption"),
        ("HMAC-SHA1", "DH-SHA1"),
        ("HMAC-SHA1", "no-encryption"),
    ]
)

ENDPOINT_FIELDS = (
    "claimed_id",
    "server_url",
    "type_uris",
    "local_id",
    "canonicalID",
    "used_yadis",
    "display_identifier",
)


def endpoint_to_json(endpoint: OpenIDServiceEndpoint | None) -> dict[str, Any] | None:
    """Describe an OpenIDServiceEndpoint as a JSON-able dict."""
    if endpoint is None:
        return None
    return {field: getattr(endpoint, field) for field in ENDPOINT_FIELDS}


def endpoint_from_json(data: object) -> OpenIDServiceEndpoint | None:
    """Rebuild an OpenIDServiceEndpoint from endpoint_to_json's dict."""
    if not isinstance(data, dict):
        return None
    endpoint = OpenIDServiceEndpoint()
    for field in ENDPOINT_FIELDS:
        setattr(endpoint, field, data.get(field))
    endpoint.type_uris = list(endpoint.type_uris or [])
    endpoint.used_yadis = bool(endpoint.used_yadis)
    return endpoint


def manager_to_json(manager: YadisServiceManager) -> dict[str, Any]:
    """Describe a YadisServiceManager (discovery fallback state) as a JSON-able dict."""
    return {
        "kind": "yadis_manager",
        "starting_url": manager.starting_url,
        "yadis_url": manager.yadis_url,
        "session_key": manager.session_key,
        "services": [endpoint_to_json(s) for s in manager.services],
        "current": endpoint_to_json(manager.current()),
    }


def manager_from_json(data: dict[str, Any]) -> YadisServiceManager:
    """Rebuild a YadisServiceManager from manager_to_json's dict."""
    services = [endpoint_from_json(s) for s in data.get("services", [])]
    manager = YadisServiceManager(
        data.get("starting_url"), data.get("yadis_url"), services, data.get("session_key")
    )
    manager._current = endpoint_from_json(data.get("current"))
    return manager


def keep_spent_attempt() -> None:
    """Commit what checking a refused answer recorded (its return_to token, any nonce) on its own."""
    try:
        db.session.commit()
    except SQLAlchemyError as exc:  # the database failed: the answer is refused all the same
        db.session.rollback()
        log.warning("Could not record a refused OpenID answer's spent token: %s", exc)


class JsonConsumerSession:
    """Dict-like view python3-openid uses for its per-visitor state, stored as JSON.

    Only two kinds of value ever go in: the endpoint being tried and the
    Yadis service manager. Both are converted to and from plain dicts here.
    """

    def _state(self) -> dict[str, Any]:
        return session.setdefault(CONSUMER_STATE_KEY, {})

    def __getitem__(self, name: str) -> StoredValue:
        data = session.get(CONSUMER_STATE_KEY, {})[name]
        if isinstance(data, dict) and data.get("kind") == "yadis_manager":
            return manager_from_json(data)
        return endpoint_from_json(data)

    def __setitem__(self, name: str, value: object) -> None:
        if isinstance(value, YadisServiceManager):
            encoded: dict[str, Any] | None = manager_to_json(value)
        elif isinstance(value, OpenIDServiceEndpoint):
            encoded = endpoint_to_json(value)
        else:
            raise TypeError(f"unexpected OpenID session value {type(value).__name__}")
        state = self._state()
        state[name] = encoded
        session.modified = True

    def __delitem__(self, name: str) -> None:
        del self._state()[name]
        session.modified = True

    def get(self, name: str, default: StoredValue = None) -> StoredValue:
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        return name in session.get(CONSUMER_STATE_KEY, {})


class MicroblogOpenID(OpenID):
    """Flask-OpenID with the database store, JSON session state and a bound return_to."""

    def __init__(self, app: Flask, store_factory: Callable[[], OpenIDStore]) -> None:
        super().__init__(app, store_factory=store_factory)
        self.recent_discoveries = RecentDiscoveries(
            int(app.config["OPENID_DISCOVERY_CACHE_SECONDS"]),
            int(app.config["OPENID_DISCOVERY_CACHE_ENTRIES"]),
        )

    def get_next_url(self) -> str:
        """Flask-OpenID's own `next`/Referer fallback, narrowed to the one safe-redirect check."""
        return safe_next(request.values.get("next")) or url_for("main.index")

    def _consumer(self) -> openid_consumer.Consumer:
        consumer = openid_consumer.Consumer(JsonConsumerSession(), self.store_factory())
        consumer.consumer.negotiator = SHA256_FIRST
        from app.auth.openid2.hardening import harden  # late: app.auth imports extensions

        harden(consumer, start_discovery=self.recent_discoveries.discover)
        return consumer

    def begin(self, identifier: str) -> str:
        """Discover the provider and return the URL to send the visitor to.

        Raises openid.consumer.discover.DiscoveryFailure when the identifier
        leads to no usable provider.
        """
        auth_request = self._consumer().begin(identifier)
        self.attach_reg_info(auth_request, None, ASK_FOR)
        token = secrets.token_urlsafe(16)
        session[RETURN_TO_TOKEN_KEY] = {"token": token, "issued": int(time.time())}
        return_to = url_for("auth.openid_complete", rt=token, _external=True)
        return auth_request.redirectURL(request.host_url, return_to)

    def _claim_return_to_token(self, presented: str) -> str:
        """Check the attempt's return_to token and spend it, before anything is fetched.

        The session is a cookie, so popping the token is not enough: an old copy of the
        cookie would still hold it. Recording it in the shared nonce table makes it
        single-use in every worker; stale attempts (past the nonce skew) are refused too.
        The record joins the request's transaction (see DatabaseOpenIDStore.useNonce): it is
        committed before any fetch from the provider (app.auth.openid2.hardening), by `complete`
        when the answer is refused, else with the sign-in the answer leads to.
        """
        pending = session.pop(RETURN_TO_TOKEN_KEY, None)
        token = pending.get("token") if isinstance(pending, dict) else None
        issued = pending.get("issued") if isinstance(pending, dict) else None
        if not isinstance(token, str) or not isinstance(issued, int):
            raise SignInFailed(ATTEMPT_EXPIRED)
        if not secrets.compare_digest(presented.encode(), token.encode()):
            raise SignInFailed(ATTEMPT_EXPIRED)
        if not self.store_factory().useNonce(RETURN_TO_NONCE_URL, issued, token):
            raise SignInFailed(ATTEMPT_EXPIRED)
        return token

    def complete(self) -> OpenIDResponse:
        """Verify the provider's answer to this request; return an OpenIDResponse.

        Raises SignInFailed with a plain message when it does not verify. The spent return_to
        token and the answer's nonce are recorded but not committed: an accepted answer's
        records commit with the sign-in it leads to (one transaction), a refused one's right here.
        """
        args = request.args.to_dict()
        args.update(request.form.to_dict())
        expected = self._claim_return_to_token(str(args.get("rt", "")))
        return_to = url_for("auth.openid_complete", rt=expected, _external=True)
        try:
            result = self._consumer().complete(args, return_to)
        except Exception:
            keep_spent_attempt()  # even when checking the answer failed
            raise
        if result.status == openid_consumer.SUCCESS and result.identity_url:
            return OpenIDResponse(result, self.extension_responses)
        keep_spent_attempt()
        if result.status == openid_consumer.CANCEL:
            raise SignInFailed("Sign-in was cancelled at the provider.")
        if result.status == openid_consumer.SETUP_NEEDED:
            raise SignInFailed("The provider needs you to sign in there first.")
        raise SignInFailed("The provider's answer could not be verified. Please try again.")


# The current app's MicroblogOpenID (each app gets its own in create_app), as flask.current_app is.
oid = cast("MicroblogOpenID", LocalProxy(lambda: current_app.extensions[OPENID2_EXTENSION]))
