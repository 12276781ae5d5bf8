"""The microblog application package: create_app builds a configured app."""

import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, abort, g, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, user_loaded_from_cookie, user_logged_in, user_logged_out
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.wrappers import Response as BaseResponse

from app.page_urls import register_page_urls
from app.session_cookie import SessionCookieInterface
from app.static_files import register_static_fingerprints
from config import BASE_DIR, ConfigError, load_config

if TYPE_CHECKING:
    from app.models import User  # for annotations only; the factory imports modules where it uses them

MIGRATIONS_DIR = BASE_DIR / "migrations"


def create_app(config_name: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app for a config name (default: MICROBLOG_CONFIG) with optional overrides."""
    try:
        settings = load_config(config_name, overrides)
    except ConfigError as exc:
        print(f"microblog: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    app = Flask(__name__)
    app.config.from_mapping(settings)
    app.session_interface = SessionCookieInterface()
    register_logging(app)
    register_proxy_fix(app)
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_static_fingerprints(app)
    register_page_urls(app)
    register_operations(app)
    return app


def register_logging(app: Flask) -> None:
    """Log levels; JSON lines on stdout and a line per request where configured (production)."""
    from app.ops.logs import configure_logging

    configure_logging(app)


PROXY_FIX_SETTINGS = {
    "x_for": "PROXY_FIX_X_FOR",
    "x_proto": "PROXY_FIX_X_PROTO",
    "x_host": "PROXY_FIX_X_HOST",
    "x_port": "PROXY_FIX_X_PORT",
    "x_prefix": "PROXY_FIX_X_PREFIX",
}


def register_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-* headers, but only from as many proxies as the PROXY_FIX_* settings say."""
    counts = {arg: int(app.config[key]) for arg, key in PROXY_FIX_SETTINGS.items()}
    if any(counts.values()):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, **counts)  # type: ignore[method-assign]  # Flask's documented way


def register_operations(app: Flask) -> None:
    """Health check, the 503 page for database outages, and the `flask openid-cleanup` command."""
    from app.ops import bp as ops_bp
    from app.ops.cli import register_commands
    from app.ops.outage import register_outage_handler

    app.register_blueprint(ops_bp)
    register_outage_handler(app)
    register_commands(app)
    if app.config["MICROBLOG_CONFIG"] == "production" and app.config["RATELIMIT_STORAGE_URI"] == "memory://":
        app.logger.warning("RATELIMIT_STORAGE_URI is memory://: each worker counts sign-in attempts alone")


def register_extensions(app: Flask) -> None:
    """Bind every extension object to the app."""
    from app.auth.openid2.consumer import MicroblogOpenID
    from app.auth.openid2.store import DatabaseOpenIDStore
    from app.csrf_tokens import use_csrf_tokens
    from app.extensions import OPENID2_EXTENSION, csrf, db, limiter, login_manager, migrate
    from app.fetcher import install_openid_fetcher
    from app.shared_cache import init_cache

    db.init_app(app)
    configure_engine(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    use_csrf_tokens(app)
    app.extensions[OPENID2_EXTENSION] = MicroblogOpenID(app, store_factory=DatabaseOpenIDStore)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)
    init_cache(app)
    login_manager.init_app(app)
    configure_login(login_manager)
    install_openid_fetcher()  # process-wide; each fetch follows the current app's policy


def configure_engine(app: Flask) -> None:
    """PostgreSQL: an autocommit pool for page views' one read; on both pools a client-side deadline
    for each statement, idle connections checked before use. An SQLite file: the write-ahead log."""
    from sqlalchemy import make_url

    from app.extensions import db

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        from app.database import add_autocommit_pool, ping_idle_connections
        from app.ops.dbguard import guard_statements

        statement_timeout = float(app.config["DATABASE_STATEMENT_TIMEOUT"])
        ping_after = app.config["DATABASE_PING_AFTER_IDLE"]
        with app.app_context():
            for engine in (db.engine, add_autocommit_pool(app, db.engine)):
                guard_statements(engine, statement_timeout)
                if ping_after not in (None, ""):
                    ping_idle_connections(engine, float(ping_after))
    elif url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        from app.database import write_ahead_log

        with app.app_context():
            write_ahead_log(db.engine)


def configure_login(manager: LoginManager) -> None:
    """Tell Flask-Login how to find users and where the login page is."""
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in to see this page."
    manager.login_message_category = "info"

    @manager.user_loader
    def load_user(token: str) -> "User | None":
        from app.auth.devices import load_user_and_device

        return load_user_and_device(token)  # the user and this browser's device session, one query

    @manager.unauthorized_handler
    def send_to_login() -> BaseResponse:
        from flask import flash

        flash(manager.login_message, manager.login_message_category)
        target = request.full_path if request.query_string else request.path
        return redirect(url_for(manager.login_view, next=target))


def register_blueprints(app: Flask) -> None:
    """Attach the blueprints."""
    from app.account import bp as account_bp
    from app.auth import bp as auth_bp
    from app.main import bp as main_bp
    from app.profile import bp as profile_bp

    app.register_blueprint(account_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(main_bp)
    app.register_blueprint(profile_bp)


def register_request_hooks(app: Flask) -> None:
    """Per-request set-up: g.user, absolute session lifetime."""
    from app.auth.session import drop_expired_session, restart_session_clock, session_expired
    from app.extensions import login_manager

    @app.before_request
    def refuse_nul_in_url() -> None:
        # No page takes a NUL byte; PostgreSQL cannot even compare one, so stop it at the door.
        if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
            abort(400)

    @app.before_request
    def load_signed_in_user() -> None:
        if current_user.is_authenticated and session_expired():
            drop_expired_session()
        # The object itself, not Flask-Login's proxy (each read through the proxy looks the user up
        # again); the two receivers below keep it right when someone signs in or out.
        g.user = current_user._get_current_object()

    @user_logged_in.connect_via(app)
    def signed_in_now(sender: Flask, user: "User") -> None:
        g.user = user

    @user_logged_out.connect_via(app)
    def signed_out_now(sender: Flask, user: object) -> None:
        g.user = login_manager.anonymous_user()  # sent before Flask-Login forgets the user

    @user_loaded_from_cookie.connect_via(app)
    def remembered_user_loaded(sender: Flask, user: "User") -> None:
        restart_session_clock()


def register_errorhandlers(app: Flask) -> None:
    """Plain-words error pages instead of tracebacks."""
    messages = {
        400: "Bad request",
        403: "Forbidden",
        404: "Page not found",
        405: "Method not allowed",
        429: "Too many requests",
        500: "Something went wrong",
    }

    def render_error(error: HTTPException) -> tuple[str, int]:
        code = getattr(error, "code", 500) or 500
        if code == 500:
            from app.extensions import db

            db.session.rollback()
        return render_template(
            "errors/error.html", code=code, title=messages.get(code, "Error"), error=error
        ), code

    for code in messages:
        app.register_error_handler(code, render_error)

    @app.errorhandler(SecurityError)
    def untrusted_host(error: SecurityError) -> tuple[str, int, dict[str, str]]:
        # Not the templated page: building its links needs the very Host that was refused.
        body = "Bad request: this site does not answer to that host name."
        return body, 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        message = (
            "This form has expired or did not come from this site. "
            "Please go back, reload the page and try again."
        )
        return render_template("errors/error.html", code=400, title="Form expired", message=message), 400


def register_security_headers(app: Flask) -> None:
    """Headers on every response: CSP without inline script, nosniff, referrer policy, HSTS."""
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' http: https:"
    )

    every_response = [
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
    ]
    signed_in_only = [("Cache-Control", "private, no-store")]  # a shared cache must never keep one
    hsts = [("Strict-Transport-Security", "max-age=31536000; includeSubDomains")]

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        # Each unless the view set its own. One pass over the view's headers: Headers.setdefault
        # scans them all for every header it adds.
        user = g.get("user")
        wanted = every_response + (signed_in_only if user is not None and user.is_authenticated else [])
        if app.config["SESSION_COOKIE_SECURE"]:
            wanted = wanted + hsts
        present = {name.lower() for name in response.headers.keys()}
        response.headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
        return response


logging.getLogger("openid").setLevel(logging.WARNING)
