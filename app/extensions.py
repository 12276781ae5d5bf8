"""Extension objects, created once here and bound to the app in the factory."""

import threading
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, current_app, request
from flask.globals import request_ctx
from flask_caching import Cache
from flask_limiter import Limiter
from flask_limiter.constants import ConfigVars
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from werkzeug.local import LocalProxy

from app.migrating import LazyMigrate

if TYPE_CHECKING:
    from authlib.integrations.flask_client import OAuth

OPENID2_EXTENSION = "microblog_openid2"

# Named constraints, so migrations can alter them on every database (SQLite included).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The models' declarative base (Flask-SQLAlchemy builds db.Model from it)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
if TYPE_CHECKING:
    # mypy cannot use a class held in an attribute (db.Model) as a base class (python/mypy#8603).
    # db.Model is Base's body and bases plus Flask-SQLAlchemy's mixins, so models are checked as Base's.
    Model = Base
else:
    Model = db.Model
migrate = LazyMigrate()  # the real Flask-Migrate loads only for migrations
login_manager = LoginManager()


class SafeMethodsCSRF(CSRFProtect):
    """Flask-WTF's CSRF protection, leaving a GET or HEAD at once.

    Flask-WTF's before_request hook looks up the view's exemptions before it looks at the method, on
    every request; only POST, PUT, PATCH and DELETE are ever checked, so for the others (most page
    views) the answer is the same without the lookups.
    """

    def protect(self, apply_exemptions: bool = False) -> None:
        """Flask-WTF's check, for the methods it checks."""
        if request.method not in current_app.config["WTF_CSRF_METHODS"]:  # checked first, not last
            return
        super().protect(apply_exemptions=apply_exemptions)


csrf = SafeMethodsCSRF()
# Limits that Flask-Limiter checks on every request, in its before_request hook (not in a view's decorator).
SITE_WIDE_LIMIT_SETTINGS = (
    ConfigVars.DEFAULT_LIMITS,
    ConfigVars.APPLICATION_LIMITS,
    ConfigVars.META_LIMITS,
    ConfigVars.IN_MEMORY_FALLBACK,
)
SITE_WIDE_LIMITS_EXTENSION = "microblog_site_wide_limits"
LIMITER_REQUEST_STATE = "_limiter_request_context"  # where Flask-Limiter 4 keeps a request's state


class RouteLimiter(Limiter):
    """Flask-Limiter without its per-request pass where only routes carry limits.

    Flask-Limiter evaluates default, application, meta and fallback limits in a before_request hook
    on every request, and each view's own limits in that view's decorator. This site sets only the
    latter (sign-in steps, posting), so the hook found nothing to count at a cost of about 100 µs a
    page. It is skipped unless the app configures a site-wide limit; the decorators still check
    their views, storage fallback and recovery included.
    """

    def init_app(self, app: Flask) -> None:
        """Bind as Flask-Limiter does, noting whether this app has any limit for the per-request hook,
        and with its after-request and teardown hooks run only where a limit was looked at."""
        super().init_app(app)
        app.extensions[SITE_WIDE_LIMITS_EXTENSION] = any(
            app.config.get(key) for key in SITE_WIDE_LIMIT_SETTINGS
        )
        only_where_limits_were_checked(app)

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        """Flask-Limiter's check, except the before_request pass when the app has no site-wide limit."""
        if in_middleware and not current_app.extensions.get(SITE_WIDE_LIMITS_EXTENSION, True):
            return
        super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)


def limits_were_checked() -> bool:
    """Whether Flask-Limiter keeps state for this request (a limit was checked, or a hook looked)."""
    return hasattr(request_ctx, LIMITER_REQUEST_STATE)


def only_where_limits_were_checked(app: Flask) -> None:
    """Run Flask-Limiter's after-request hook (rate-limit headers, conditional deductions) and its
    teardown (which clears the request's state) only on requests where it keeps state.

    On a request no limit looked at, both made that state just to find it empty (about 1% of a
    cached page view's instructions, wrapper included). Flask-Limiter registers them as private
    functions; they are found among the app's hooks by identity and wrapped in place, so they still
    run in Flask-Limiter's order. tests/test_security_web.py checks they were found, and that they
    still run where limits apply.
    """
    inject_headers = getattr(Limiter, "_Limiter__inject_headers")  # noqa: B009 - a name-mangled private
    release_context = getattr(Limiter, "_Limiter__release_context")  # noqa: B009 - a name-mangled private

    def wrapped(hook: Any, after_request: bool) -> Any:
        def when_checked(value: Any) -> Any:
            if limits_were_checked():
                return hook(value)
            return value if after_request else None

        return when_checked

    after = app.after_request_funcs.setdefault(None, [])
    for i, hook in enumerate(after):
        if isinstance(hook, partial) and hook.func is inject_headers:
            after[i] = wrapped(hook, after_request=True)
    teardown = app.teardown_request_funcs.setdefault(None, [])
    for i, hook in enumerate(teardown):
        if getattr(hook, "__func__", None) is release_context:
            teardown[i] = wrapped(hook, after_request=False)


limiter = RouteLimiter(key_func=get_remote_address)
cache = Cache()  # what every reader sees alike: configured by app.shared_cache.init_cache
AUTHLIB_EXTENSION = "authlib.integrations.flask_client"  # where Authlib's OAuth keeps itself on an app
_oauth_lock = threading.Lock()


def oauth_registry(app: Flask) -> "OAuth":
    """The app's own Authlib registry, made on the first OpenID Connect callback.

    Authlib's client, cryptography and joserfc take about 11 MB per worker, so they load when a
    callback checks an answer, not when a worker starts or a sign-in starts (app/auth/oidc/client.py).
    The lock keeps two threads' first callbacks on one registry.
    """
    registry = app.extensions.get(AUTHLIB_EXTENSION)
    if registry is None:
        with _oauth_lock:
            registry = app.extensions.get(AUTHLIB_EXTENSION)
            if registry is None:
                from authlib.integrations.flask_client import OAuth

                registry = OAuth(app)  # stores itself in app.extensions[AUTHLIB_EXTENSION]
    return cast("OAuth", registry)


# Authlib's OAuth registry serves a single app, so each app gets its own and `oauth` is the
# current app's, as flask.current_app is.
oauth = cast("OAuth", LocalProxy(lambda: oauth_registry(current_app._get_current_object())))  # type: ignore[attr-defined]
# Flask-OpenID's object holds its app and store, so each app gets its own too, made in create_app
# under OPENID2_EXTENSION; `app.auth.openid2.consumer.oid` is the current app's.
