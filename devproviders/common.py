"""What both local providers share: a small Flask app with its own session cookie, CSRF and pages."""

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, FileSystemLoader

HERE = Path(__file__).resolve().parent
SITE_TEMPLATES = HERE.parent / "app" / "templates"


@dataclass(frozen=True)
class SiteFacts:
    """What the local providers know about the site they serve (taken from its configuration)."""

    secret_key: str
    static_url: str  # the site's static files, so the approval pages look like the site
    login_url: str
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_issuer: str = ""
    oidc_callback_path: str = ""
    oidc_key_file: str | None = None


@dataclass(frozen=True)
class Brand:
    """How a local provider names itself on its pages: its mark (the letter on the site's button) and name."""

    mark: str
    name: str


def provider_app(import_name: str, prefix: str, site: SiteFacts, brand: Brand) -> Flask:
    """A Flask app for one local provider, mounted at `prefix`, with CSRF-protected forms."""
    app = Flask(import_name, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    # The site's templates come second, so both share partials such as _flashes.html.
    app.jinja_loader = ChoiceLoader([FileSystemLoader(HERE / "templates"), FileSystemLoader(SITE_TEMPLATES)])
    secret = hmac.new(site.secret_key.encode(), f"devproviders {prefix}".encode(), hashlib.sha256)
    app.config.update(
        SECRET_KEY=secret.hexdigest(),
        SESSION_COOKIE_NAME="devprovider_session",
        SESSION_COOKIE_PATH=prefix,  # its own cookie, never confused with the site's
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions["devproviders.site"] = site
    app.jinja_env.globals["site"] = site
    app.jinja_env.globals["brand"] = brand
    CSRFProtect(app)

    @app.errorhandler(CSRFError)
    def form_expired(error: CSRFError) -> tuple[str, int]:
        return error_page("Form expired", "This form has expired. Go back, reload and try again.", 400)

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return error_page("Page not found", "The local test provider has no such page.", 404)

    return app


def site_address(url: str) -> str:
    """The host (and port) of a site's URL, as a person reads it: http://127.0.0.1:5000/ -> 127.0.0.1:5000."""
    return urlsplit(url).netloc or url


def error_page(title: str, message: str, code: int) -> tuple[str, int]:
    """A plain error page of a local provider."""
    return render_template("devproviders/error.html", title=title, message=message, code=code), code
