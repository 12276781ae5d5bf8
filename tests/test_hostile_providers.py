"""A hostile provider against the running site: crafted discovery pages, XRI claims, tarpits."""

import threading
import time
import uuid

import pytest
import requests
from openid.association import SessionNegotiator
from openid.consumer.consumer import DiffieHellmanSHA1ConsumerSession, ProtocolError
from openid.consumer.discover import OpenIDServiceEndpoint
from openid.message import Message
from openid.yadis import xrires
from sqlalchemy import func, select

from app.auth.openid2.consumer import RETURN_TO_NONCE_URL
from app.auth.openid2.hardening import HardenedGenericConsumer
from app.extensions import db
from app.models import OpenIDAssociation, OpenIDNonce, User
from tests.support.listener import ok
from tests.support.web import WebClient, flashes
from tests.test_discovery import crafted_page

pytestmark = pytest.mark.e2e

NO_PROVIDER = "We could not find an OpenID provider at that address. Check it and try again."
VERIFY_FAILED = "The provider's answer could not be verified. Please try again."


@pytest.fixture
def hostile(listener):
    """A hostile site on loopback serving whatever the test routes."""
    return listener


@pytest.fixture
def xri_lookups(monkeypatch):
    asked = []
    monkeypatch.setattr(xrires.ProxyResolver, "query", lambda self, *args: asked.append(args) or (None, []))
    return asked


def user_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


def forged_answer(live_server, token, claimed_id, op_endpoint):
    return {
        "rt": token,
        "openid.ns": "http://specs.openid.net/auth/2.0",
        "openid.mode": "id_res",
        "openid.claimed_id": claimed_id,
        "openid.identity": claimed_id,
        "openid.op_endpoint": op_endpoint,
        "openid.return_to": live_server.url + "/login/openid/complete?rt=" + token,
        "openid.response_nonce": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "x",
        "openid.assoc_handle": "forged",
        "openid.signed": "op_endpoint,claimed_id,identity,return_to,response_nonce,assoc_handle",
        "openid.sig": "Zm9yZ2Vk",
    }


def callback_token(app, browser, openid_provider):
    """Start a genuine sign-in and return (its return_to token, the cookies holding it)."""
    cookies = browser.capture_callback(openid_provider.identity("victim"))[1]
    state = app.session_interface.get_signing_serializer(app).loads(cookies["session"])
    return state["openid_rt"]["token"], cookies


def test_crafted_page_at_sign_in_start_gets_the_normal_answer(browser, live_server, hostile):
    hostile.route("/me", ok(crafted_page("<!--").encode(), content_type="text/html"))
    page = browser.start_sign_in(hostile.url("/me"), timeout=30)
    assert page.url.startswith(live_server.url + "/login")
    assert ("error", NO_PROVIDER) in flashes(page.text)
    assert browser.get("/healthz", timeout=5).status_code == 200


def test_crafted_page_named_by_a_forged_callback_is_parsed_quickly(
    app, browser, live_server, openid_provider, hostile
):
    hostile.route("/me", ok(crafted_page("<![CDATA[").encode(), content_type="text/html"))
    token, cookies = callback_token(app, browser, openid_provider)
    forged = forged_answer(live_server, token, hostile.url("/me"), openid_provider.base_url + "/endpoint")
    page = browser.with_cookies(cookies).get("/login/openid/complete", params=forged, timeout=30)
    assert ("error", VERIFY_FAILED) in flashes(page.text)
    assert [r.path for r in hostile.requests] == ["/me"]  # re-discovered, then refused
    assert user_count(app) == 0


@pytest.mark.parametrize("claimed_id", ["=victim", "@corp*victim", "xri://=victim"])
def test_forged_callback_with_an_xri_claim_is_refused_without_a_lookup(
    app, browser, live_server, openid_provider, xri_lookups, claimed_id
):
    token, cookies = callback_token(app, browser, openid_provider)
    forged = forged_answer(live_server, token, claimed_id, openid_provider.base_url + "/endpoint")
    page = browser.with_cookies(cookies).get("/login/openid/complete", params=forged)
    assert page.url.startswith(live_server.url + "/login")
    assert ("error", VERIFY_FAILED) in flashes(page.text)
    assert xri_lookups == []
    assert user_count(app) == 0


# --- Association downgrade over plain http --------------------------------------------------------


def associate_requests(openid_provider):
    return [args for args in openid_provider.requests if args.get("openid.mode") == "associate"]


def test_provider_refusing_diffie_hellman_over_http_gets_no_plaintext_association(
    app, browser, openid_provider
):
    """The provider only offers HMAC-SHA1 with no encryption; over http the site goes stateless instead."""
    openid_provider.openid_server.negotiator = SessionNegotiator([("HMAC-SHA1", "no-encryption")])
    openid_provider.behaviour.profiles["alice"] = {"nickname": "alice"}
    page = browser.start_sign_in(openid_provider.identity("alice"))
    assert "Hi, alice!" in page.text  # still signed in, through check_authentication
    sessions = [args.get("openid.session_type") for args in associate_requests(openid_provider)]
    assert sessions and "no-encryption" not in sessions
    with app.app_context():
        assert db.session.scalar(select(func.count(OpenIDAssociation.handle))) == 0
    assert any(args.get("openid.mode") == "check_authentication" for args in openid_provider.requests)


def test_the_callback_waits_on_the_provider_with_its_writes_committed(app, browser, openid_provider):
    """Going stateless, the callback asks the provider (check_authentication) only once the spent
    return_to token is committed: no write lock or row lock is held while a provider answers."""
    openid_provider.openid_server.negotiator = SessionNegotiator([("HMAC-SHA1", "no-encryption")])
    openid_provider.behaviour.profiles["alice"] = {"nickname": "alice"}
    committed_tokens = []
    answer = openid_provider.endpoint

    def endpoint(request):
        if request.values.get("openid.mode") == "check_authentication":
            with app.app_context():  # another connection: it sees committed rows only
                spent = select(func.count()).where(OpenIDNonce.server_url == RETURN_TO_NONCE_URL)
                committed_tokens.append(db.session.scalar(spent))
        return answer(request)

    openid_provider.endpoint = endpoint
    page = browser.start_sign_in(openid_provider.identity("alice"))
    assert "Hi, alice!" in page.text
    assert committed_tokens == [1]


def test_openid1_plaintext_answer_to_a_diffie_hellman_request_is_refused_over_http():
    consumer = HardenedGenericConsumer(store=None)
    consumer._diffie_hellman_required = True
    answer = Message.fromOpenIDArgs(
        {"assoc_type": "HMAC-SHA1", "assoc_handle": "h", "expires_in": "600", "mac_key": "c2VjcmV0"}
    )
    assert answer.isOpenID1()
    with pytest.raises(ProtocolError, match="unencrypted"):
        consumer._extractAssociation(answer, DiffieHellmanSHA1ConsumerSession())


def test_plaintext_association_is_fine_over_https():
    consumer = HardenedGenericConsumer(store=None)
    consumer.negotiator = SessionNegotiator([("HMAC-SHA1", "no-encryption")])
    endpoint = OpenIDServiceEndpoint()
    endpoint.server_url = "https://op.example/"
    asked = []
    consumer._requestAssociation = lambda endpoint, assoc, session: asked.append(session)
    consumer._negotiateAssociation(endpoint)
    endpoint.server_url = "http://op.example/"
    consumer._negotiateAssociation(endpoint)
    assert asked == ["no-encryption"]


# --- Tarpits: one budget per sign-in step, a few steps per client at once -------------------------


def slow(seconds, handler):
    def tarpit(conn, request, listener):
        listener.stopping.wait(seconds)
        handler(conn, request, listener)

    return tarpit


EMPTY_XRDS = (
    b'<?xml version="1.0" encoding="UTF-8"?><xrds:XRDS xmlns:xrds="xri://$xrds" '
    b'xmlns="xri://$xrd*($v*2.0)"><XRD></XRD></xrds:XRDS>'
)


def test_all_fetches_of_one_sign_in_step_share_one_budget(app, browser, live_server, hostile):
    """Each answer comes just inside the per-fetch timeout; the step's budget still ends the chain."""
    app.config["OUTBOUND_TIMEOUT"] = 2.0
    page = f'<html><head><meta http-equiv="X-XRDS-Location" content="{hostile.url("/xrds")}"></head></html>'
    hostile.route("/me", slow(1.2, ok(page.encode(), content_type="text/html")))
    hostile.route("/xrds", slow(1.2, ok(EMPTY_XRDS, content_type="application/xrds+xml")))
    answer = browser.start_sign_in(hostile.url("/me"), timeout=30)
    assert ("error", NO_PROVIDER) in flashes(answer.text)
    # /me (1.2 s), then /xrds is cut at 2 s: python3-openid's HTML fallback never fetches /me again.
    assert [r.path for r in hostile.requests] == ["/me", "/xrds"]


def waiting_tarpit(entered, count):
    """Hold each request until the listener stops (at most 10 s); set `entered` once `count` are held."""

    def tarpit(conn, request, listener):
        if len(listener.requests) >= count:
            entered.set()
        listener.stopping.wait(10)

    return tarpit


def test_a_client_gets_a_busy_page_beyond_its_waiting_sign_in_steps(app, live_server, hostile):
    app.config.update(OUTBOUND_TIMEOUT=10.0, SIGN_IN_STEPS_PER_CLIENT=2)
    entered = threading.Event()
    hostile.route("/me", waiting_tarpit(entered, 2))
    browsers = [WebClient(live_server.url) for _ in range(3)]
    held = [
        threading.Thread(target=start_quietly, args=(b, hostile.url("/me")), daemon=True)
        for b in browsers[:2]
    ]
    for thread in held:
        thread.start()
    assert entered.wait(10), "the first two sign-ins reached the tarpit"
    page = browsers[2].start_sign_in(hostile.url("/me"), timeout=5)
    assert page.status_code == 429
    assert "Busy, try again" in page.text
    assert len(hostile.requests) == 2  # the third never reached the provider
    assert browsers[2].get("/healthz", timeout=5).status_code == 200
    hostile.close()  # release the tarpit
    for thread in held:
        thread.join(15)
    assert "Busy, try again" not in browsers[2].start_sign_in("http://127.0.0.1:9/", timeout=15).text


def start_quietly(browser, identifier):
    try:
        browser.start_sign_in(identifier, timeout=30)
    except requests.RequestException:
        pass


def test_waiting_sign_in_steps_are_counted_across_workers(app, redis_url, hostile):
    """One step waits on the tarpit in worker A; the same client's next step, in worker B, is refused."""
    from tests.support.workers import GunicornApp
    from tests.test_workers import SECRET, start_all

    settings = {
        "MICROBLOG_CONFIG": "testing",
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": f"microblog-steps-{uuid.uuid4().hex}",
        "SIGN_IN_STEPS_PER_CLIENT": "1",
        "OUTBOUND_TIMEOUT": "10",
    }
    worker_a, worker_b = start_all([GunicornApp(settings), GunicornApp(settings)])
    entered = threading.Event()
    hostile.route("/me", waiting_tarpit(entered, 1))
    held = threading.Thread(
        target=start_quietly, args=(WebClient(worker_a.url), hostile.url("/me")), daemon=True
    )
    try:
        held.start()
        assert entered.wait(15), "worker A's sign-in reached the tarpit"
        page = WebClient(worker_b.url).start_sign_in(hostile.url("/me"), timeout=10)
        assert page.status_code == 429 and "Busy, try again" in page.text
        assert len(hostile.requests) == 1
    finally:
        hostile.close()
        held.join(15)
        worker_a.stop()
        worker_b.stop()
