"""A browser-like HTTP client for end-to-end tests against a live server on loopback."""

import re
import threading
from html import unescape

import requests
from werkzeug.serving import make_server
from werkzeug.test import Client, TestResponse

from config import local_provider_settings
from devproviders.mount import mount

CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
FLASH_PATTERN = re.compile(r'<li class="flash flash-(\w+)">(.*?)</li>', re.S)
NICKNAME_VALUE_PATTERN = re.compile(r'<input[^>]*name="nickname"[^>]*value="([^"]*)"')
TIMELINE_PATTERN = re.compile(r'<section class="timeline".*?</section>', re.S)
LOCAL_PROVIDER_INDEX = 2  # Steam, Ubuntu One, then the local test provider
# A page only a signed-in person may see: asking for it tells whether a browser is signed in
# (the front page is public, so it cannot).
SIGNED_IN_ONLY = "/profile/edit"
LOCAL_OIDC = "local"  # the local OpenID Connect provider's name (its start URL is /login/oidc/local)


POLL_INTERVAL = 0.02  # how often serve_forever looks for shutdown(); its default 0.5 s slowed every teardown


class LiveServer:
    """Serve a WSGI app on 127.0.0.1 in a thread (threaded, like the dev server).

    The port is bound at once, so `url` is known before the app is: an app given later
    (`serve(app)`) may be configured with its own address first.
    """

    def __init__(self, app=None):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name=f"live-server-{self._server.server_port}",
            daemon=True,
        )

    def serve(self, wsgi_app):
        """Serve this WSGI app from now on."""
        self.app = self._server.app = wsgi_app
        return self

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def live_site(app):
    """A live server for a site, with the local test providers mounted beside it as run.py does."""
    server = LiveServer()
    if not app.config.get("DEV_OPENID_PROVIDER"):
        return server.serve(app)
    app.config.update(local_provider_settings({**app.config, "LOCAL_PROVIDERS_URL": server.url}))
    return server.serve(mount(app))


def dev_client(app):
    """A test client for a site with the local test providers mounted beside it (no real HTTP)."""
    return Client(mount(app), TestResponse)


def csrf_token(html):
    """The CSRF token of the first form in a page."""
    match = CSRF_PATTERN.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def nickname_value(html):
    """The value filled in the nickname field of a page, or None."""
    match = NICKNAME_VALUE_PATTERN.search(html)
    return unescape(match.group(1)) if match else None


def timeline(html):
    """A page's list of posts with its pager (the front page's or a profile's)."""
    match = TIMELINE_PATTERN.search(html)
    assert match, "page has no list of posts"
    return match.group(0)


def flashes(html):
    """The flashed messages of a page as (category, text) pairs."""
    return [(cat, unescape(text).strip()) for cat, text in FLASH_PATTERN.findall(html)]


class WebClient:
    """A person with a browser: cookies, redirects, forms with their CSRF tokens."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = requests.Session()

    def url(self, path):
        return path if path.startswith("http") else self.base_url + path

    def get(self, path, **kwargs):
        kwargs.setdefault("timeout", 10)
        return self.http.get(self.url(path), **kwargs)

    def post(self, path, data, **kwargs):
        kwargs.setdefault("timeout", 10)
        return self.http.post(self.url(path), data=data, **kwargs)

    def start_sign_in(
        self, identifier="", remember=False, next_url=None, provider=None, username=None, **kwargs
    ):
        """Submit the login form as a person would; follows redirects unless told not to."""
        page = self.get("/login" + (f"?next={requests.utils.quote(next_url)}" if next_url else ""))
        data = {"csrf_token": csrf_token(page.text), "openid": identifier}
        if next_url:
            data["next"] = next_url
        if remember:
            data["remember_me"] = "y"
        if provider is not None:
            data["provider"] = str(provider)
            data[f"username-{provider}"] = username or ""
        return self.post("/login", data, **kwargs)

    def decide(self, approval_page, approve=True, **fields):
        """Answer the local test provider's approval page."""
        data = {"csrf_token": csrf_token(approval_page.text)}
        data.update({k: v for k, v in fields.items() if v is not None})
        data["approve" if approve else "cancel"] = "1"
        if approve:
            current = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', approval_page.text))
            for key in ("username", "nickname", "email"):
                data.setdefault(key, unescape(current.get(key, "")))
        return self.post(approval_page.url, data)

    def sign_in_local(self, username, remember=False, next_url=None, **profile):
        """Sign in through the local test provider, approving with the given profile."""
        approval = self.start_sign_in(
            remember=remember, next_url=next_url, provider=LOCAL_PROVIDER_INDEX, username=username
        )
        assert "/dev-openid/approve" in approval.url, approval.text
        return self.decide(approval, **profile)

    def choose_nickname(self, step_page, nickname):
        """Confirm the "Choose your nickname" step with a nickname."""
        return self.post("/login/nickname", {"csrf_token": csrf_token(step_page.text), "nickname": nickname})

    def cancel_nickname(self, step_page):
        """Cancel the "Choose your nickname" step."""
        return self.post("/login/nickname/cancel", {"csrf_token": csrf_token(step_page.text)})

    def capture_callback(self, identifier):
        """Start sign-in and fetch the provider's answer without delivering it.

        Returns the callback URL (the provider's redirect back to the app) and
        a copy of the cookies as they were before the answer was delivered.
        """
        start = self.start_sign_in(identifier, allow_redirects=False)
        assert start.status_code == 302, start.text
        answer = self.http.get(start.headers["Location"], allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"], self.http.cookies.copy()

    def with_cookies(self, cookies):
        """Another browser holding exactly these cookies."""
        other = WebClient(self.base_url)
        other.http.cookies.update(cookies)
        return other

    def submit_autoform(self, page):
        """Submit an auto-submitting form (a provider answer too long for a URL), as its script would."""
        action = unescape(re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1))
        fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
        return self.post(action, {unescape(k): unescape(v) for k, v in fields})

    def sign_in_local_oidc(self, username, remember=False, **profile):
        """Sign in through the local OpenID Connect provider, approving with the given profile."""
        page = self.get("/login")
        data = {"csrf_token": csrf_token(page.text), "openid": ""}
        if remember:
            data["remember_me"] = "y"
        approval = self.post(f"/login/oidc/{LOCAL_OIDC}", data)
        assert "/dev-oidc/authorize" in approval.url, approval.text
        return self.decide(approval, username=username, **profile)

    def account_post(self, path, data=None, **kwargs):
        """Post a form of the account page (with this browser's CSRF token), as its buttons do."""
        page = self.get("/account")
        return self.post(path, {"csrf_token": csrf_token(page.text), **(data or {})}, **kwargs)

    def start_connect(
        self, identifier="", provider=None, username=None, oidc=None, intent="connect", **kwargs
    ):
        """Press an "Add" button on the account page: OpenID 2.0 (typed or a button) or OpenID Connect."""
        data = {"intent": intent, "openid": identifier}
        if provider is not None:
            data["provider"] = str(provider)
            data[f"username-{provider}"] = username or ""
        path = f"/login/oidc/{oidc}" if oidc else "/login"
        return self.account_post(path, data, **kwargs)

    def connect_local(self, username, **profile):
        """Add the local OpenID 2.0 provider's `username` as a sign-in method; the page it ends on."""
        approval = self.start_connect(provider=LOCAL_PROVIDER_INDEX, username=username)
        assert "/dev-openid/approve" in approval.url, approval.text
        return self.decide(approval, **profile)

    def connect_local_oidc(self, username, **profile):
        """Add the local OpenID Connect provider's `username` as a sign-in method; the page it ends on."""
        approval = self.start_connect(oidc=LOCAL_OIDC)
        assert "/dev-oidc/authorize" in approval.url, approval.text
        return self.decide(approval, username=username, **profile)

    def logout(self):
        page = self.get("/")
        return self.post("/logout", {"csrf_token": csrf_token(page.text)})
