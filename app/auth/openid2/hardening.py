"""python3-openid's consumer, tightened: linear-time discovery with no XRI, no plaintext keys over http.

It also never waits on a provider inside an open write transaction: what checking an answer recorded
so far (the spent return_to token) is committed before any fetch, so an SQLite site's write lock, or
a PostgreSQL row lock, is never held while a slow provider answers.
"""

from collections.abc import Callable
from urllib.parse import urlsplit

from openid.association import Association, SessionNegotiator
from openid.consumer.consumer import Consumer, GenericConsumer, ProtocolError
from openid.consumer.discover import OpenIDServiceEndpoint
from openid.message import Message

from app.auth.openid2.discovery import discover
from app.extensions import db

PLAINTEXT = "no-encryption"
Discover = Callable[[str], tuple[str, list[OpenIDServiceEndpoint]]]


def over_plain_http(url: str | None) -> bool:
    """True when url is not https (so anyone on the path can read what is sent)."""
    return urlsplit(url or "").scheme.lower() != "https"


def without_plaintext(negotiator: SessionNegotiator) -> SessionNegotiator:
    """The same preferences minus the no-encryption sessions (the MAC key would travel in clear)."""
    return SessionNegotiator(
        [(assoc, session) for assoc, session in negotiator.allowed_types if session != PLAINTEXT]
    )


class HardenedGenericConsumer(GenericConsumer):
    """GenericConsumer that discovers with app.auth.openid2.discovery and needs Diffie-Hellman over http."""

    _discover = staticmethod(discover)
    _diffie_hellman_required = False
    negotiator: SessionNegotiator

    def _negotiateAssociation(self, endpoint: OpenIDServiceEndpoint) -> Association | None:  # noqa: N802 - python3-openid's name
        """Over plain http, offer and accept only Diffie-Hellman sessions; else stay stateless."""
        if not over_plain_http(endpoint.server_url):
            return super()._negotiateAssociation(endpoint)
        saved = self.negotiator
        self.negotiator = without_plaintext(saved)
        if not self.negotiator.allowed_types:
            self.negotiator = saved
            return None
        self._diffie_hellman_required = True
        try:
            return super()._negotiateAssociation(endpoint)
        finally:
            self.negotiator = saved
            self._diffie_hellman_required = False

    def _checkAuth(self, message: Message, server_url: str) -> bool:  # noqa: N802 - python3-openid's name
        """check_authentication with the provider, after committing what the callback recorded so far."""
        db.session.commit()
        return bool(super()._checkAuth(message, server_url))

    def _discoverAndVerify(  # noqa: N802 - python3-openid's name
        self, claimed_id: str, to_match_endpoints: list[OpenIDServiceEndpoint]
    ) -> OpenIDServiceEndpoint:
        """Discovery of an answer's claimed identifier, after committing what the callback recorded so far."""
        db.session.commit()
        return super()._discoverAndVerify(claimed_id, to_match_endpoints)

    def _extractAssociation(self, assoc_response: Message, assoc_session: object) -> Association:  # noqa: N802
        """Refuse an answer that hands over the key in clear (OpenID 1 lets a provider do so)."""
        if self._diffie_hellman_required and self._answered_session_type(assoc_response) == PLAINTEXT:
            raise ProtocolError("The provider offered an unencrypted association over plain http")
        return super()._extractAssociation(assoc_response, assoc_session)

    def _answered_session_type(self, assoc_response: Message) -> str | None:
        if assoc_response.isOpenID1():
            return self._getOpenID1SessionType(assoc_response)
        return assoc_response.getArg(assoc_response.getOpenIDNamespace(), "session_type")


def harden(consumer: Consumer, start_discovery: Discover = discover) -> Consumer:
    """Give a python3-openid Consumer our discovery and association rules.

    start_discovery serves the sign-in's start (it may answer from recent discoveries); the
    callback's verification of the claimed identifier always runs `discover` itself.
    """
    hardened = HardenedGenericConsumer(consumer.consumer.store)
    hardened.negotiator = consumer.consumer.negotiator
    consumer.consumer = hardened
    consumer._discover = start_discovery
    return consumer
