"""Deployed like the real thing: Debian's nginx (docs/nginx.conf) terminating TLS with a certificate
made for the test, gunicorn behind it with the documented PROXY_FIX_* settings, sign-in through
https:// with both protocols, __Host- cookies, HSTS, static files from nginx, real client addresses."""

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.oidc.harness import complete_login, start_oidc_provider
from tests.support.nginx import NGINX, Nginx
from tests.support.oidc_site import OIDCBrowser, provider_settings
from tests.support.openid_provider import TestOpenIDProvider as OpenIDProvider
from tests.support.tls import make_certificates
from tests.support.web import csrf_token, flashes
from tests.support.workers import GunicornApp

pytestmark = pytest.mark.e2e

SECRET = "nginx-test-secret-" + "n" * 40
RATE_LIMIT = 6  # sign-in starts per minute per client address
HSTS = "max-age=31536000; includeSubDomains"
OIDC_ACCOUNTS = {"bobby": {"preferred_username": "bob", "email": "bob@example.org"}}
# The documented settings for one proxy in front (docs/nginx.conf, docs/production.md).
PROXY_SETTINGS = {
    "PROXY_FIX_X_FOR": "1",
    "PROXY_FIX_X_PROTO": "1",
    "PROXY_FIX_X_HOST": "1",
    "PROXY_FIX_X_PORT": "1",
}


class Deployment:
    """nginx on https://127.0.0.1:<port> in front of the production command, and the providers."""

    def __init__(self, nginx, gunicorn, openid_provider, certificates):
        self.nginx = nginx
        self.gunicorn = gunicorn
        self.openid_provider = openid_provider
        self.certificates = certificates
        self.url = nginx.https_url

    def browser(self, source_address=None):
        """A browser trusting the test CA, optionally connecting from another loopback address."""
        browser = OIDCBrowser(self.url)
        browser.http.verify = str(self.certificates.ca)
        browser.http.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
        # Forms are posted from the login page; over HTTPS the CSRF check wants a same-site Referer.
        browser.http.headers["Referer"] = self.url + "/login"
        if source_address:
            adapter = SourceAddressAdapter(source_address)
            browser.http.mount("https://", adapter)
        return browser

    def logged(self, remote_addr, status, timeout=10):
        """Whether gunicorn logs a request from remote_addr with status (its output comes a moment later)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.request_lines()
            if any(line["remote_addr"] == remote_addr and line["status"] == status for line in lines):
                return True
            time.sleep(0.05)
        return False

    def logged_path(self, path, after=0, timeout=10):
        """Whether gunicorn logs a request for path past its first `after` request lines (a moment later)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line["path"] == path for line in self.request_lines()[after:]):
                return True
            time.sleep(0.05)
        return False

    def request_lines(self):
        """The app's JSON request log lines so far."""
        lines = [json.loads(line) for line in self.gunicorn.lines if line.startswith("{")]
        return [line for line in lines if line.get("logger") == "microblog.request"]


class SourceAddressAdapter(HTTPAdapter):
    """Connect from a chosen loopback address, as a different client machine would."""

    def __init__(self, source_address, **kwargs):
        self.source_address = source_address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source_address, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, migrated_database):
    if NGINX is None:
        pytest.skip("needs nginx (bash scripts/test.sh installs Debian's nginx)")
    directory = tmp_path_factory.mktemp("deployment")
    certificates = make_certificates(directory)
    nginx = Nginx(directory / "nginx", upstream=None, certificates=certificates)
    callback = f"{nginx.https_url}/login/oidc/test/callback"
    openid_provider = OpenIDProvider().start()
    try:
        with start_oidc_provider(redirect_uris=[callback], accounts=OIDC_ACCOUNTS) as oidc_provider:
            env = {
                "MICROBLOG_CONFIG": "production",
                "SECRET_KEY": SECRET,
                "DATABASE_URL": migrated_database.fresh(directory),
                "OPENID_ALLOW_PRIVATE_HOSTS": "1",  # the test providers are on loopback
                "LOGIN_RATE_LIMIT": f"{RATE_LIMIT} per minute",
                "RATELIMIT_STORAGE_URI": "memory://",  # one worker
                **PROXY_SETTINGS,
                **provider_settings("test", oidc_provider.issuer, label="Test OP"),
            }
            gunicorn = GunicornApp(env, workers=1).start()
            try:
                nginx.upstream = urlsplit(gunicorn.url).netloc
                nginx.start()
                try:
                    yield Deployment(nginx, gunicorn, openid_provider, certificates)
                finally:
                    nginx.stop()
            finally:
                gunicorn.stop()
    finally:
        openid_provider.stop()


def test_plain_http_is_redirected_to_https(deployment):
    answer = requests.get(deployment.nginx.http_url + "/login?next=/x", allow_redirects=False, timeout=10)
    assert answer.status_code == 301
    assert answer.headers["Location"] == "https://127.0.0.1/login?next=/x"


def test_pages_come_over_https_with_hsts_and_the_apps_headers(deployment):
    page = deployment.browser().get("/login")
    assert page.status_code == 200 and page.url == deployment.url + "/login"
    assert page.headers["Strict-Transport-Security"] == HSTS
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "nginx/" not in page.headers.get("Server", "")  # server_tokens off


def test_static_files_are_served_by_nginx_with_fingerprints_and_long_caching(deployment):
    browser = deployment.browser()
    earlier = len(deployment.request_lines())
    page = browser.get("/login")
    [stylesheet] = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    assert re.fullmatch(r"/static/style\.css\?v=[0-9a-f]{12}", stylesheet)
    assert deployment.logged_path("/login", after=earlier)  # the page's own line is in before counting
    before = len(deployment.request_lines())
    css = browser.get(stylesheet)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "max-age=31536000" in css.headers["Cache-Control"] and "immutable" in css.headers["Cache-Control"]
    assert css.headers["Strict-Transport-Security"] == HSTS
    assert css.headers["X-Content-Type-Options"] == "nosniff"
    # Served from disk by nginx: gunicorn never saw the request.
    assert [line["path"] for line in deployment.request_lines()[before:]] == []


def test_openid2_sign_in_through_https(deployment):
    provider = deployment.openid_provider
    provider.behaviour.profiles["carol"] = {"nickname": "carol", "email": "carol@example.test"}
    browser = deployment.browser()
    page = browser.get("/login")
    start = browser.post(
        "/login",
        {"csrf_token": csrf_token(page.text), "openid": provider.identity("carol")},
        allow_redirects=False,
    )
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    # The return_to and realm the provider is given are the public https:// addresses.
    assert query["openid.return_to"][0].startswith(deployment.url + "/login/openid/complete?")
    assert query["openid.realm"][0] == deployment.url + "/"
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = answer.headers["Location"]
    assert callback.startswith(deployment.url + "/login/openid/complete?")
    home = browser.get(callback)
    assert home.url == deployment.url + "/" and "Hi, carol!" in home.text
    assert_host_session_cookie(browser, home)


def test_openid_connect_sign_in_through_https(deployment):
    browser = deployment.browser()
    auth_url = browser.to_provider("test")
    query = parse_qs(urlsplit(auth_url).query)
    assert query["redirect_uri"] == [deployment.url + "/login/oidc/test/callback"]
    callback = complete_login(auth_url, "bobby", redirect_uri=deployment.url + "/login/oidc/test/")
    home = browser.get(callback)
    assert home.url == deployment.url + "/" and "Hi, bob!" in home.text, flashes(home.text)
    assert_host_session_cookie(browser, home)


def assert_host_session_cookie(browser, home):
    """The signed-in session lives in a __Host- cookie: Secure, Path=/, no Domain, sent back over TLS."""
    [cookie] = [c for c in browser.http.cookies if c.name == "__Host-session"]
    assert cookie.secure and cookie.path == "/" and not cookie.domain_specified
    assert home.headers["Strict-Transport-Security"] == HSTS
    # The same browser without that cookie is a visitor again.
    browser.http.cookies.clear()
    assert browser.get("/profile/edit").url.startswith(browser.base_url + "/login")


def test_rate_limits_count_the_real_client_address_not_a_spoofed_header(deployment):
    spammer = deployment.browser(source_address="127.0.0.2")
    token = csrf_token(spammer.get("/login").text)
    answers = [
        spammer.post(
            "/login", {"csrf_token": token, "openid": ""}, headers={"X-Forwarded-For": f"198.51.100.{n}"}
        )
        for n in range(RATE_LIMIT + 1)
    ]
    # Changing X-Forwarded-For on every try does not get around the limit ...
    assert [a.status_code for a in answers] == [200] * RATE_LIMIT + [429]
    # ... which counts this client's own address, so another client is not affected.
    neighbour = deployment.browser(source_address="127.0.0.3")
    page = neighbour.post("/login", {"csrf_token": csrf_token(neighbour.get("/login").text), "openid": ""})
    assert page.status_code == 200
    assert deployment.logged("127.0.0.2", 429) and deployment.logged("127.0.0.3", 200)
    assert not any(line["remote_addr"].startswith("198.51.100.") for line in deployment.request_lines())
