"""The database OpenID store and the return_to token check, piece by piece."""

import time

import pytest
from openid.association import Association
from openid.store.nonce import SKEW
from sqlalchemy import func, select

from app.auth.flow import SignInFailed
from app.auth.openid2.consumer import RETURN_TO_TOKEN_KEY, oid
from app.auth.openid2.store import DatabaseOpenIDStore
from app.extensions import db
from app.models import OpenIDNonce

URL = "https://op.example/endpoint"


def nonce_rows():
    return db.session.scalar(select(func.count(OpenIDNonce.id)))


def test_stale_or_future_nonces_are_refused_and_not_stored(app):
    with app.app_context():
        store = DatabaseOpenIDStore()
        now = int(time.time())
        assert store.useNonce(URL, now - SKEW - 10, "old") is False
        assert store.useNonce(URL, now + SKEW + 10, "future") is False
        assert nonce_rows() == 0
        assert store.useNonce(URL, now, "fresh") is True
        assert store.useNonce(URL, now, "fresh") is False
        assert nonce_rows() == 1


def test_expired_associations_are_never_used(app):
    with app.app_context():
        store = DatabaseOpenIDStore()
        now = int(time.time())
        store.storeAssociation(URL, Association("old", b"k" * 32, now - 1000, 10, "HMAC-SHA256"))
        assert store.getAssociation(URL) is None
        assert store.getAssociation(URL, "old") is None
        store.storeAssociation(URL, Association("live", b"k" * 32, now, 600, "HMAC-SHA256"))
        assert store.getAssociation(URL).handle == "live"


@pytest.mark.parametrize(
    ("in_session", "presented"),
    [
        (None, "tok"),  # no attempt started in this browser: an unsolicited answer
        ({"token": "a", "issued": 0}, "b"),  # another attempt's token
        ("tok", "tok"),  # an old-style or tampered value
    ],
    ids=["unsolicited", "other-attempt", "malformed"],
)
def test_return_to_token_must_match_an_attempt_of_this_browser(app, in_session, presented):
    with app.test_request_context("/login/openid/complete"):
        from flask import session

        if in_session is not None:
            if isinstance(in_session, dict):
                in_session = {**in_session, "issued": int(time.time())}
            session[RETURN_TO_TOKEN_KEY] = in_session
        with pytest.raises(SignInFailed):
            oid._claim_return_to_token(presented)
        assert nonce_rows() == 0  # refused before anything was recorded or fetched


def test_a_matching_token_is_spent_once(app):
    with app.test_request_context("/login/openid/complete"):
        from flask import session

        attempt = {"token": "tok", "issued": int(time.time())}
        session[RETURN_TO_TOKEN_KEY] = dict(attempt)
        assert oid._claim_return_to_token("tok") == "tok"
        session[RETURN_TO_TOKEN_KEY] = dict(attempt)  # an old copy of the signed cookie
        with pytest.raises(SignInFailed):
            oid._claim_return_to_token("tok")
