"""OpenID Connect attack tests: forged ID tokens, bad answers, state misuse, unreachable providers."""

import json
import logging
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.extensions import db
from app.models import Identity, User
from tests.oidc.forging_provider import start_forging_provider
from tests.support.listener import Listener, hang
from tests.support.oidc_site import OIDCSite, provider_settings
from tests.support.web import csrf_token, flashes, nickname_value

pytestmark = pytest.mark.e2e  # live site and forging provider

REJECTED = ("error", "The answer from Forge could not be verified, so you were not signed in.")


@pytest.fixture(scope="module")
def site():
    site = OIDCSite().start()
    yield site
    site.stop()


@pytest.fixture
def forger():
    with start_forging_provider() as provider:
        yield provider


@pytest.fixture
def serve(site, database_url):
    """Serve the app with extra settings; the forging provider is "forge" when given."""
    stack = []

    def start(forger=None, **settings):
        if forger is not None:
            settings = {**provider_settings("forge", forger.issuer, label="Forge"), **settings}
        context = site.serving(database_url, **settings)
        stack.append(context)
        return context.__enter__()

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def app(serve, forger):
    return serve(forger)


@pytest.fixture
def browser(site, app):
    return site.browser()


def sign_in(browser, **kwargs):
    """The whole round trip: the forging provider answers /authorize without asking anything."""
    return browser.start_oidc("forge", allow_redirects=True, **kwargs)


def signed_in_users(app):
    with app.app_context():
        return db.session.execute(select(User.nickname, User.email)).all()


def assert_refused(page, app, message=REJECTED):
    assert urlsplit(page.url).path == "/login", page.url
    assert message in flashes(page.text), flashes(page.text)
    assert "Hi, " not in page.text
    assert signed_in_users(app) == []


def test_a_good_token_signs_in(app, browser, forger):
    page = sign_in(browser)
    assert "Hi, forged-user!" in page.text
    with app.app_context():
        assert db.session.execute(select(Identity.issuer, Identity.subject)).all() == [
            (forger.issuer, "forged-user")
        ]
    authorize = forger.authorize_requests[-1]
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"] and authorize["state"]
    token_request = forger.token_requests[-1]
    assert token_request["auth_method"] == "client_secret_basic" and token_request["code_verifier"]


@pytest.mark.parametrize(
    "mode",
    [
        "wrong_nonce",
        "missing_nonce",
        "wrong_aud",
        "wrong_aud_with_azp",
        "wrong_iss",
        "expired",
        "bad_signature",
        "alg_none",
        "unknown_kid",
        "hs256_with_public_key",
        "embedded_jwk",
        "jku",
        "wrong_at_hash",
    ],
)
def test_forged_id_tokens_are_refused(app, browser, forger, mode):
    forger.mode = mode
    assert_refused(sign_in(browser), app)


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
@pytest.mark.parametrize("mode", ["alg_none", "hs256_with_public_key"])
def test_algorithms_the_provider_advertises_do_not_widen_the_allowlist(serve, forger, site, mode):
    forger.id_token_signing_algs = ["RS256", "HS256", "none"]
    app = serve(forger)
    forger.mode = mode
    assert_refused(sign_in(site.browser()), app)


def test_keys_are_cached_and_fetched_again_for_an_unknown_key_id(app, site, forger):
    assert "Hi, forged-user!" in sign_in(site.browser()).text
    assert "Hi, forged-user!" in sign_in(site.browser()).text
    assert forger.jwks_requests == 1  # cached

    forger.rotate_key()  # new kid, not in the cached key set
    assert "Hi, forged-user!" in sign_in(site.browser()).text
    assert forger.jwks_requests == 2  # fetched again, once

    forger.mode = "unknown_kid"
    page = sign_in(site.browser())
    assert REJECTED in flashes(page.text)
    assert forger.jwks_requests == 3  # one more try, then refused


def test_discovery_and_keys_are_fetched_again_once_stale(serve, forger, site):
    serve(forger, OIDC_METADATA_TTL=0)
    sign_in(site.browser())
    sign_in(site.browser())
    assert forger.jwks_requests == 2


def test_a_subject_longer_than_255_characters_is_refused(app, browser, forger):
    forger.claims["sub"] = "x" * 256  # validly signed, but too long for identity.subject
    assert_refused(sign_in(browser), app)
    with app.app_context():
        assert db.session.scalars(select(Identity)).all() == []


def test_userinfo_for_another_subject_is_ignored(app, browser, forger):
    forger.claims = {"sub": "forged-user"}  # no profile in the ID token: the site asks UserInfo

    def userinfo(request):
        body = {"sub": "someone-else", "preferred_username": "intruder", "email": "intruder@example.test"}
        return Response(json.dumps(body), mimetype="application/json")

    forger._userinfo = userinfo
    step = sign_in(browser)  # no usable nickname: the first sign-in asks for one
    assert urlsplit(step.url).path == "/login/nickname"
    assert nickname_value(step.text) == "user-forged-user"
    assert "Hi, user-forged-user!" in browser.choose_nickname(step, "user-forged-user").text
    assert signed_in_users(app) == [("user-forged-user", None)]


def test_userinfo_for_the_same_subject_gives_the_profile(app, browser, forger):
    forger.claims = {"sub": "forged-user"}

    def userinfo(request):
        body = {"sub": "forged-user", "preferred_username": "pat", "email": "pat@example.test"}
        return Response(json.dumps(body), mimetype="application/json")

    forger._userinfo = userinfo
    assert "Hi, pat!" in sign_in(browser).text
    assert signed_in_users(app) == [("pat", "pat@example.test")]


def test_a_token_response_without_an_id_token_is_refused(app, browser, forger):
    original = forger._token

    def token_without_id_token(request):
        response = original(request)
        body = json.loads(response.get_data())
        body.pop("id_token", None)
        return Response(json.dumps(body), status=response.status_code, mimetype="application/json")

    forger._token = token_without_id_token
    assert_refused(sign_in(browser), app)


def test_discovery_naming_another_issuer_is_refused(app, browser, forger):
    original = forger._metadata

    def metadata(request):
        body = json.loads(original(request).get_data())
        body["issuer"] = "https://accounts.example"
        return Response(json.dumps(body), mimetype="application/json")

    forger._metadata = metadata
    page = sign_in(browser)
    message = "Forge cannot be used for sign-in: its discovery document names another issuer ('https://accounts.example')."
    assert_refused(page, app, ("error", message))
    assert forger.authorize_requests == []  # nobody was sent there


def test_a_provider_error_is_reported_plainly(app, browser):
    browser.start_oidc("forge")  # a sign-in is pending
    page = browser.get("/login/oidc/forge/callback?error=temporarily_unavailable&state=x")
    assert_refused(
        page,
        app,
        ("error", "Forge did not complete the sign-in (temporarily_unavailable). Please try again."),
    )
    page = browser.get("/login/oidc/forge/callback?error=%3Cscript%3E&state=x")
    assert ("error", "Forge did not complete the sign-in (error). Please try again.") in flashes(page.text)


@pytest.mark.parametrize("query", ["?code=abc&state=made-up", "?code=abc", ""])
def test_a_callback_without_a_pending_state_is_refused(app, browser, query):
    browser.start_oidc("forge")
    page = browser.get("/login/oidc/forge/callback" + query)
    expired = ("error", "This sign-in has expired or was started in another browser. Please start again.")
    assert_refused(page, app, expired)


def test_a_state_is_used_once_even_when_the_sign_in_fails(app, browser, forger):
    forger.mode = "wrong_nonce"
    authorize = browser.start_oidc("forge").headers["Location"]
    callback = browser.get(authorize, allow_redirects=False).headers["Location"]
    assert REJECTED in flashes(browser.get(callback).text)
    forger.mode = "good"
    expired = ("error", "This sign-in has expired or was started in another browser. Please start again.")
    assert_refused(browser.get(callback), app, expired)


def test_only_the_newest_pending_sign_ins_are_kept(app, browser):
    callbacks = []
    for _ in range(6):
        authorize = browser.start_oidc("forge").headers["Location"]
        callbacks.append(browser.get(authorize, allow_redirects=False).headers["Location"])
    size = len(browser.http.cookies["session"])
    browser.start_oidc("forge")
    assert len(browser.http.cookies["session"]) <= size + 50  # bounded, not growing with each start
    expired = ("error", "This sign-in has expired or was started in another browser. Please start again.")
    assert_refused(browser.get(callbacks[0]), app, expired)
    assert "Hi, forged-user!" in browser.get(callbacks[-1]).text


def test_unknown_providers_are_refused(app, browser):
    unknown = ("error", "That sign-in provider is not offered here.")
    assert_refused(browser.start_oidc("nope", allow_redirects=True), app, unknown)
    assert_refused(browser.get("/login/oidc/nope/callback?code=x&state=y"), app, unknown)


def test_starting_needs_a_post_with_a_csrf_token(app, browser, forger):
    assert browser.get("/login/oidc/forge").status_code == 405
    response = browser.post("/login/oidc/forge", {"remember_me": "y"})
    assert response.status_code == 400 and "Form expired" in response.text
    assert forger.authorize_requests == []


def test_starting_is_rate_limited(serve, forger, site):
    serve(forger, LOGIN_RATE_LIMIT="2 per minute")
    browser = site.browser()
    assert browser.start_oidc("forge").status_code == 302
    assert browser.start_oidc("forge").status_code == 302
    limited = browser.start_oidc("forge")
    assert limited.status_code == 429 and "Too many requests" in limited.text


def test_an_unreachable_provider_gives_a_plain_message(serve, site):
    listener = Listener()  # a port that is bound, then closed: nothing answers there
    port = listener.port
    listener.close()
    app = serve(**provider_settings("forge", f"http://127.0.0.1:{port}", label="Forge"))
    page = site.browser().start_oidc("forge", allow_redirects=True)
    assert_refused(page, app, ("error", "We could not reach Forge just now. Please try again later."))


@pytest.mark.parametrize(("port", "refusal"), [("", "AddressRefused"), (":{port}", "PortRefused")])
def test_a_provider_on_a_private_address_is_refused_under_the_strict_policy(
    serve, site, caplog, port, refusal
):
    listener = Listener()  # were the policy ignored, the fetch would land here (or on port 443)
    try:
        issuer = "https://127.0.0.1" + port.format(port=listener.port)
        app = serve(OPENID_ALLOW_PRIVATE_HOSTS=False, **provider_settings("forge", issuer, label="Forge"))
        with caplog.at_level(logging.INFO, logger="app.auth.oidc.client"):
            page = site.browser().start_oidc("forge", allow_redirects=True)
        assert_refused(page, app, ("error", "We could not reach Forge just now. Please try again later."))
        assert refusal in caplog.text and listener.accepted == []
    finally:
        listener.close()


def test_a_slow_provider_times_out_with_a_plain_message(serve, site, caplog):
    listener = Listener()  # accepts, never answers
    listener.route("/.well-known/openid-configuration", hang)
    try:
        issuer = listener.url("").rstrip("/")
        app = serve(OUTBOUND_TIMEOUT=0.5, **provider_settings("forge", issuer, label="Forge"))
        with caplog.at_level(logging.INFO, logger="app.auth.oidc.client"):
            page = site.browser().start_oidc("forge", allow_redirects=True)
        assert_refused(page, app, ("error", "We could not reach Forge just now. Please try again later."))
        assert "FetchTimeout" in caplog.text
    finally:
        listener.close()


def test_the_login_page_keeps_every_oidc_button_a_csrf_protected_post(app, browser):
    page = browser.get("/login")
    form = page.text[page.text.index('id="login-form"') :]
    form = form[: form.index("</form>")]
    assert 'method="post"' in page.text and csrf_token(form)
    assert 'formaction="/login/oidc/forge"' in form and "Sign in with Forge" in form
