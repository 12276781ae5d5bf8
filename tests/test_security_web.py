"""Sessions, cookies, CSRF, redirects, headers and rate limits, each attacked directly."""

import base64
import pickle
import time

import pytest

from app import create_app
from app.database import ensure_schema
from app.extensions import SITE_WIDE_LIMITS_EXTENSION, db, limiter, limits_were_checked
from app.models import Post, User
from tests.support.listener import Listener, hang
from tests.support.web import SIGNED_IN_ONLY, LiveServer, WebClient, csrf_token, flashes

CSRF_MESSAGE = "This form has expired or did not come from this site."


def session_cookie_for(app, data):
    """A session cookie signed with the app's key, holding exactly `data`."""
    return app.session_interface.get_signing_serializer(app).dumps(data)


# --- cookies ---------------------------------------------------------------------------


def test_cookie_flags_in_development(browser):
    browser.sign_in_local("alice", remember=True)
    by_name = {c.name: c for c in browser.http.cookies}
    for name in ("session", "remember_token"):
        cookie = by_name[name]
        assert cookie.has_nonstandard_attr("HttpOnly"), name
        assert cookie.get_nonstandard_attr("SameSite") == "Lax", name


def test_production_cookies_are_secure_with_host_prefix(tmp_path):
    app = create_app(
        "production", {"SECRET_KEY": "s" * 40, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.db"}
    )
    with app.app_context():
        ensure_schema()
    client = app.test_client()
    response = client.get("/login", base_url="https://microblog.example")
    header = response.headers["Set-Cookie"]
    assert header.startswith("__Host-session=")
    for flag in ("Secure", "HttpOnly", "Path=/", "SameSite=Lax"):
        assert flag in header
    assert "Domain=" not in header
    assert app.config["REMEMBER_COOKIE_NAME"].startswith("__Host-") and app.config["REMEMBER_COOKIE_SECURE"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


# --- sessions -------------------------------------------------------------------------


def test_sign_in_starts_a_fresh_session(app, live_server):
    browser = WebClient(live_server.url)
    planted = session_cookie_for(app, {"planted": "by-attacker", "_user_id": "nobody"})
    browser.http.cookies.set("session", planted, domain="127.0.0.1")
    browser.sign_in_local("alice")
    cookie = browser.http.cookies.get("session")
    data = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert "planted" not in data
    assert "openid_consumer" not in data and "login_next" not in data


def test_sign_out_everywhere_revokes_other_sessions_and_remember_cookies(app, live_server):
    laptop, phone = WebClient(live_server.url), WebClient(live_server.url)
    laptop.sign_in_local("alice", remember=True)
    phone.sign_in_local("alice", remember=True)
    old_remember = phone.http.cookies.get("remember_token")
    page = laptop.get("/")
    page = laptop.post("/logout/everywhere", {"csrf_token": csrf_token(page.text)})
    assert ("info", "You have been signed out on every device.") in flashes(page.text)
    assert phone.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")
    stolen = WebClient(live_server.url)
    stolen.http.cookies.set("remember_token", old_remember, domain="127.0.0.1")
    assert stolen.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")
    assert "Hi, alice!" in laptop.sign_in_local("alice").text


def test_sessions_have_an_absolute_lifetime(app, client, auth):
    auth.login("alice")
    assert client.get("/").status_code == 200
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    with client.session_transaction() as session:
        session["signed_in_at"] = int(time.time() - lifetime - 5)
    response = client.get(SIGNED_IN_ONLY)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def with_session_changes(app, browser, **changes):
    """Rewrite the browser's signed session cookie (as if time had passed)."""
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(browser.http.cookies.get("session"))
    data.update(changes)
    browser.http.cookies.set("session", serializer.dumps(data), domain="127.0.0.1")


def test_expired_session_falls_back_to_the_remember_cookie(app, live_server):
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    remembered, plain = WebClient(live_server.url), WebClient(live_server.url)
    remembered.sign_in_local("alice", remember=True)
    plain.sign_in_local("bob")
    for browser in (remembered, plain):
        with_session_changes(app, browser, signed_in_at=int(time.time() - lifetime - 5))
    started = int(time.time())
    home = remembered.get("/")
    assert "Hi, alice!" in home.text
    assert plain.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")
    # The remember cookie started a fresh session with a fresh clock, which then keeps working.
    data = app.session_interface.get_signing_serializer(app).loads(remembered.http.cookies.get("session"))
    assert data["signed_in_at"] >= started
    posted = remembered.post("/", {"csrf_token": csrf_token(home.text), "body": "still here"})
    assert "still here" in posted.text and "Hi, alice!" in posted.text


def test_a_raw_user_id_in_the_session_signs_no_one_in(app, live_server):
    """Flask-Login's id is the per-user random token: knowing a user's number is not enough."""
    WebClient(live_server.url).sign_in_local("alice")
    with app.app_context():
        alice_id = db.session.scalar(db.select(User.id))
    browser = WebClient(live_server.url)
    forged = {"_user_id": str(alice_id), "_fresh": True, "signed_in_at": int(time.time())}
    browser.http.cookies.set("session", session_cookie_for(app, forged), domain="127.0.0.1")
    assert browser.get(SIGNED_IN_ONLY).url.startswith(live_server.url + "/login")


def test_nothing_from_the_cookie_is_unpickled(app, live_server, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = {" p": base64.b64encode(pickle.dumps(Exploit())).decode()}
    browser = WebClient(live_server.url)
    # Planted where this app keeps consumer state, and where Flask-OpenID's own wrapper would look.
    attempt = {"token": "tok", "issued": int(time.time())}
    state = {"openid_rt": attempt, "openid_consumer": {"_openid_consumer_last_token": payload}, "lt": payload}
    cookie = session_cookie_for(app, state)
    browser.http.cookies.set("session", cookie, domain="127.0.0.1")
    page = browser.get(
        "/login/openid/complete?rt=tok&openid.mode=id_res&openid.ns=http://specs.openid.net/auth/2.0"
    )
    assert page.url.startswith(live_server.url + "/login")
    assert not marker.exists()


# --- CSRF and GET -----------------------------------------------------------------------


def test_login_post_without_csrf_token_is_refused_without_fetching(browser, openid_provider):
    response = browser.post("/login", {"openid": openid_provider.identity("bob")})
    assert response.status_code == 400
    assert CSRF_MESSAGE in response.text and "Traceback" not in response.text
    assert openid_provider.requests == []


def test_login_post_with_a_foreign_csrf_token_is_refused(browser, live_server, openid_provider):
    other = WebClient(live_server.url)
    token = csrf_token(other.get("/login").text)
    browser.get("/login")
    response = browser.post("/login", {"openid": openid_provider.identity("bob"), "csrf_token": token})
    assert response.status_code == 400
    assert openid_provider.requests == []


def test_logout_needs_csrf_token(browser):
    browser.sign_in_local("alice")
    response = browser.post("/logout", {})
    assert response.status_code == 400 and CSRF_MESSAGE in response.text
    assert "Hi, alice!" in browser.get("/").text
    response = browser.post("/logout/everywhere", {})
    assert response.status_code == 400
    assert "Hi, alice!" in browser.get("/").text


def test_state_never_changes_on_get(app, client, auth):
    auth.login("alice")
    for path in ("/logout", "/logout/everywhere", "/login"):
        client.get(path)
    assert client.get("/").status_code == 200


def test_logout_next_is_checked(browser, live_server):
    browser.sign_in_local("alice")
    page = browser.get("/")
    response = browser.post(
        "/logout", {"csrf_token": csrf_token(page.text), "next": "//evil.com"}, allow_redirects=False
    )
    assert response.headers["Location"] == "/"


def test_hostile_referer_is_never_followed(browser, live_server, openid_provider):
    openid_provider.behaviour.profiles["bob"] = {"nickname": "bob"}
    browser.http.headers["Referer"] = "https://evil.com/"
    page = browser.start_sign_in(openid_provider.identity("bob"))
    assert page.url == live_server.url + "/"


# --- output, headers, limits ---------------------------------------------------------------


def test_post_bodies_are_escaped(app, client, auth):
    user = auth.login("alice")
    with app.app_context():
        db.session.add(Post(body='<script>alert("x")</script>', user_id=user.id))
        db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


def test_security_headers_on_html_responses(client):
    for path in ("/login", "/does-not-exist"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        for directive in (
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "script-src 'self'",
        ):
            assert directive in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert "<script>" not in client.get("/login").get_data(as_text=True).replace('<script src="', "")


def test_starting_sign_in_is_rate_limited(tmp_path, openid_provider):
    app = create_app(
        "testing",
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/r.db", "LOGIN_RATE_LIMIT": "3 per minute"},
    )
    with app.app_context():
        ensure_schema()
    client = app.test_client()
    statuses = []
    for _ in range(5):
        html = client.get("/login").get_data(as_text=True)
        response = client.post("/login", data={"openid": "ftp://nope", "csrf_token": csrf_token(html)})
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429]
    assert "too often" in response.get_data(as_text=True)


def test_pages_without_a_limit_skip_the_limiters_per_request_pass(app, client, auth, monkeypatch):
    """No default, application or blueprint limit exists, so ordinary pages never consult the limiter."""
    assert not app.extensions[SITE_WIDE_LIMITS_EXTENSION]
    assert not limiter.limit_manager.default_limits and not limiter.limit_manager.application_limits
    assert all(not limiter.limit_manager.blueprint_limits(app, name) for name in app.blueprints)

    def refuse(*args, **kwargs):
        raise AssertionError("the limiter resolved limits for a page that has none")

    monkeypatch.setattr(limiter.limit_manager, "resolve_limits", refuse)
    auth.login()
    for path in ("/", "/user/tester", "/account", "/login", "/healthz"):
        assert client.get(path).status_code in (200, 302), path


def test_the_limiters_after_request_and_teardown_hooks_run_only_where_a_limit_was_checked(
    database_url, monkeypatch
):
    """Flask-Limiter's hooks are wrapped (app.extensions.only_where_limits_were_checked): a page view
    keeps no limiter state and skips them; a limited route still gets its X-RateLimit headers."""
    from functools import partial

    from flask_limiter import Limiter

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    # RATELIMIT_HEADERS_ENABLED: the shared limiter reads it from the first app it binds in a process.
    monkeypatch.setattr(limiter, "_headers_enabled", True)
    inject_headers = getattr(Limiter, "_Limiter__inject_headers")  # noqa: B009 - name-mangled
    raw = [f for f in app.after_request_funcs[None] if isinstance(f, partial) and f.func is inject_headers]
    assert raw == [], "Flask-Limiter's hook was not found and wrapped (renamed in a new version?)"
    kept_state = []

    @app.after_request
    def note_state(response):
        kept_state.append(limits_were_checked())
        return response

    client = app.test_client()
    page = client.get("/login")
    assert page.status_code == 200 and "X-RateLimit-Limit" not in page.headers and kept_state == [False]
    start = client.post("/login", data={"openid": "ftp://nope", "csrf_token": csrf_token(page.text)})
    assert start.status_code == 200 and kept_state == [False, True], kept_state
    assert start.headers["X-RateLimit-Limit"] == "1000" and int(start.headers["X-RateLimit-Remaining"]) < 1000


def test_a_site_wide_limit_is_still_checked_on_every_page(database_url):
    app = create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_DEFAULT": "2 per minute"}
    )
    client = app.test_client()
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 429]


# --- outbound fetching from the sign-in flow ----------------------------------------------------


def strict_app(tmp_path, **overrides):
    settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/s.db", "OPENID_ALLOW_PRIVATE_HOSTS": False}
    settings.update(overrides)
    app = create_app("testing", settings)
    with app.app_context():
        ensure_schema()
    return app


def test_sign_in_never_fetches_internal_addresses(tmp_path):
    app = strict_app(tmp_path)
    listener = Listener()
    try:
        client = app.test_client()
        for target in (
            listener.url("/"),
            f"http://2130706433:{listener.port}/",
            f"http://0x7f.1:{listener.port}/",
        ):
            html = client.get("/login").get_data(as_text=True)
            response = client.post("/login", data={"openid": target, "csrf_token": csrf_token(html)})
            assert response.status_code == 200  # the login page again, the address kept and marked
            assert "could not find an OpenID provider" in response.get_data(as_text=True)
        assert listener.accepted == []
    finally:
        listener.close()


def test_forged_callback_cannot_make_the_server_fetch_internal_addresses(tmp_path):
    app = strict_app(tmp_path)
    listener = Listener()
    try:
        client = app.test_client()
        with client.session_transaction() as session:
            session["openid_rt"] = {"token": "tok", "issued": int(time.time())}
        claimed = listener.url("/me")
        forged = {
            "rt": "tok",
            "openid.ns": "http://specs.openid.net/auth/2.0",
            "openid.mode": "id_res",
            "openid.op_endpoint": listener.url("/endpoint"),
            "openid.claimed_id": claimed,
            "openid.identity": claimed,
            "openid.return_to": "http://localhost/login/openid/complete?rt=tok",
            "openid.response_nonce": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "abc",
            "openid.assoc_handle": "forged",
            "openid.signed": "op_endpoint,claimed_id,identity,return_to,response_nonce,assoc_handle",
            "openid.sig": "Zm9yZ2Vk",
        }
        response = client.post("/login/openid/complete?rt=tok", data=forged)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
        assert listener.accepted == []
    finally:
        listener.close()


@pytest.mark.e2e
def test_a_provider_that_never_answers_gives_a_message_within_the_timeout(tmp_path):
    app = strict_app(tmp_path, OPENID_ALLOW_PRIVATE_HOSTS=True, OUTBOUND_TIMEOUT=0.5)
    listener = Listener()
    listener.route("/slow", hang)
    server = LiveServer(app).start()
    try:
        browser = WebClient(server.url)
        # The client gives up after 4 s: the app must have answered well before that.
        page = browser.start_sign_in(listener.url("/slow"), timeout=4)
        assert page.url.startswith(server.url + "/login")
        [(category, message)] = flashes(page.text)
        assert category == "error" and "could not find an OpenID provider" in message
        assert len(listener.accepted) == 1
    finally:
        server.stop()
        listener.close()


def test_provider_callbacks_are_rate_limited(tmp_path):
    app = strict_app(tmp_path, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    for path in ("/login/openid/complete?rt=x", "/login/oidc/nowhere/callback?state=x&code=y"):
        statuses = [client.get(path).status_code for _ in range(5)]
        assert statuses == [302, 302, 302, 429, 429], path


def test_nul_bytes_get_a_plain_400_not_a_500(client, auth):
    """PostgreSQL refuses NUL in text: no URL or form may carry one to the database."""
    for path in ("/user/a%00b", "/index?page=1%00", "/login?next=/%00"):
        response = client.get(path)
        assert response.status_code == 400, path
        assert "Traceback" not in response.get_data(as_text=True)
    auth.login("alice")
    html = client.get("/").get_data(as_text=True)
    response = client.post("/", data={"csrf_token": csrf_token(html), "body": "hello\x00world"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "invisible control characters" in page
    assert "hello" in page  # the text typed is kept


def test_values_the_database_refuses_get_a_plain_400(app, client, auth, monkeypatch):
    """The backstop: a DataError from the database is a 400 page, never a traceback."""
    from sqlalchemy.exc import DataError

    import app.main.views as main_views

    def refuse(*args, **kwargs):
        raise DataError("INSERT", {}, ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes"))

    monkeypatch.setattr(main_views, "requested_list", refuse)
    auth.login("alice")
    response = client.get("/")
    assert response.status_code == 400
    assert "cannot be stored" in response.get_data(as_text=True)
