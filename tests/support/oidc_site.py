"""A live microblog site whose OpenID Connect providers are configured once its port is known.

A provider needs the site's redirect URI (so the site's port) before it starts, and the site needs
the provider's issuer in its configuration. So the server binds first (serving a dispatcher), the
test starts its providers, and then `serving(**settings)` builds the app with those settings
through the normal configuration path (OIDC_<NAME>_* overrides) and puts it behind the server.
"""

import contextlib
from urllib.parse import urlsplit

from app import create_app
from app.database import dispose_engines
from app.extensions import db
from devproviders.mount import mount
from tests.oidc.harness import complete_login
from tests.support.web import LiveServer, WebClient, csrf_token

CLIENT_ID = "microblog"
CLIENT_SECRET = "microblog-secret"  # noqa: S105 - test-only credential


class Dispatcher:
    """A WSGI app that forwards to whichever Flask app is being served now."""

    def __init__(self):
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


def provider_settings(name, issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **extra):
    """The OIDC_<NAME>_* settings that enable a provider."""
    prefix = f"OIDC_{name.upper()}_"
    settings = {
        prefix + "CLIENT_ID": client_id,
        prefix + "CLIENT_SECRET": client_secret,
        prefix + "ISSUER": issuer,
    }
    settings.update({prefix + key.upper(): value for key, value in extra.items()})
    return settings


class OIDCSite:
    """A live server on 127.0.0.1 whose app is built per test by serving()."""

    def __init__(self):
        self.dispatcher = Dispatcher()
        self.server = LiveServer(self.dispatcher)
        self.url = self.server.url
        self.app = None

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    def callback(self, provider):
        """The redirect URI of a provider name on this site."""
        return f"{self.url}/login/oidc/{provider}/callback"

    @contextlib.contextmanager
    def serving(self, database_url, **settings):
        """Serve a testing app with these settings on the test database (the `database_url` fixture)."""
        overrides = {"SQLALCHEMY_DATABASE_URI": database_url, "LOCAL_PROVIDERS_URL": self.url, **settings}
        app = create_app("testing", overrides)
        self.app = app
        self.dispatcher.app = mount(app) if app.config["DEV_OPENID_PROVIDER"] else app
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                dispose_engines()
            self.app = self.dispatcher.app = None

    def browser(self):
        return OIDCBrowser(self.url)


class OIDCBrowser(WebClient):
    """A person's browser that signs in with OpenID Connect."""

    def start_oidc(self, provider, remember=False, next_url=None, **kwargs):
        """Press 'Sign in with <provider>' on the login page (the form posts to the provider's start URL)."""
        page = self.get("/login" + (f"?next={next_url}" if next_url else ""))
        data = {"csrf_token": csrf_token(page.text), "openid": ""}
        if next_url:
            data["next"] = next_url
        if remember:
            data["remember_me"] = "y"
        kwargs.setdefault("allow_redirects", False)
        return self.post(f"/login/oidc/{provider}", data, **kwargs)

    def to_provider(self, provider, **kwargs):
        """Start sign-in and return the provider's authorization URL the site redirected to."""
        start = self.start_oidc(provider, **kwargs)
        assert start.status_code == 302, start.text
        location = start.headers["Location"]
        assert urlsplit(location).netloc != urlsplit(self.base_url).netloc, location
        return location

    def capture_callback(self, provider, username, approve=True, **kwargs):
        """Log in at the real test provider and return its redirect back here, not yet delivered."""
        auth_url = self.to_provider(provider, **kwargs)
        return complete_login(
            auth_url, username, approve, redirect_uri=f"{self.base_url}/login/oidc/{provider}/"
        )

    def oidc_sign_in(self, provider, username, approve=True, **kwargs):
        """The whole round trip at the real test provider; returns the page the site ends on."""
        return self.get(self.capture_callback(provider, username, approve, **kwargs))
