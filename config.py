"""Configuration classes, chosen by MICROBLOG_CONFIG and overridable from the environment."""

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
TMP_DIR = BASE_DIR / "tmp"

LOCAL_PROVIDERS_NAME = "Local test provider"
LOCAL_OIDC_NAME = "local"  # the local OpenID Connect provider's name in OIDC_PROVIDERS
LOCAL_OIDC_LABEL = "Local test provider (OpenID Connect)"
LOCAL_OPENID_ICON = "L"  # the letters on the two local providers' buttons and pages: never the same
LOCAL_OIDC_ICON = "C"
LOCAL_OIDC_CLIENT_ID = "microblog-local"
OIDC_SETTING = re.compile(r"^OIDC_([A-Z0-9_]+?)_(CLIENT_ID|CLIENT_SECRET|ISSUER|LABEL)$")
OIDC_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,31}$")
REDIS_URL_SCHEMES = ("redis://", "rediss://", "unix://")
CACHE_URL_SCHEMES = (*REDIS_URL_SCHEMES, "memory://")  # memory://: each process caches alone
OIDC_RESERVED_NAMES = {LOCAL_OIDC_NAME}  # the development provider
SECRET_KEY_MIN = 32  # characters; production refuses shorter keys
SECRET_KEY_RECIPE = "python3 -c 'import secrets; print(secrets.token_hex(32))'"  # noqa: S105 - a recipe

# The settings dict load_config builds (what app.config holds): values of many types, by name.
Settings = dict[str, Any]


class ConfigError(RuntimeError):
    """Raised when the configuration cannot be used safely."""


def dev_secret_key(tmp_dir: str | Path | None = None) -> str:
    """Return a random development secret kept in tmp/, creating it on first use."""
    path = Path(tmp_dir or TMP_DIR) / "dev-secret-key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def sqlite_url(name: str) -> str:
    """Return the URL of an SQLite database file under tmp/."""
    return f"sqlite:///{TMP_DIR / name}"


def normalise_database_url(url: str | None) -> str | None:
    """Point plain PostgreSQL URLs (postgres://, postgresql://) at the psycopg 3 driver."""
    if not url:
        return url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_settings(settings: Settings, default_url: str) -> None:
    """Set SQLALCHEMY_DATABASE_URI from itself, DATABASE_URL or a default, with the psycopg 3 driver."""
    url = settings.get("SQLALCHEMY_DATABASE_URI") or settings.get("DATABASE_URL") or default_url
    settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
    if settings["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **postgres_engine_options(settings),
            **settings.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
        }


def postgres_engine_options(settings: Settings) -> dict[str, Any]:
    """Connect timeout, server-side statement timeout and TCP keepalives, so a silent server fails fast."""
    statement_ms = int(float(settings["DATABASE_STATEMENT_TIMEOUT"]) * 1000)
    return {
        "pool_timeout": float(settings["DATABASE_CONNECT_TIMEOUT"]),  # waiting for a free pooled connection
        "connect_args": {
            "connect_timeout": max(2, int(settings["DATABASE_CONNECT_TIMEOUT"])),
            "options": f"-c statement_timeout={statement_ms}",
            "keepalives": 1,
            "keepalives_idle": int(settings["DATABASE_KEEPALIVES_IDLE"]),
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": int(float(settings["DATABASE_STATEMENT_TIMEOUT"]) * 1000) + 2000,
        },
    }


def default_openid_providers(settings: Settings) -> None:
    """Offer the well-known OpenID 2.0 providers unless OPENID_PROVIDERS names others."""
    if settings.get("OPENID_PROVIDERS") is None:
        from app.providers import DEFAULT_OPENID_PROVIDERS  # imported here: app imports config

        settings["OPENID_PROVIDERS"] = list(DEFAULT_OPENID_PROVIDERS)


class Config:
    """Settings shared by every environment."""

    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None
    DATABASE_URL: str | None = None
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    WTF_CSRF_TIME_LIMIT: int | None = None  # the token lives as long as the session
    POSTS_PER_PAGE = 20
    # None: the well-known defaults (Steam, Ubuntu One); see app/providers.py
    OPENID_PROVIDERS: list[dict[str, str]] | None = None
    DEV_OPENID_PROVIDER = False  # offer the local test providers of devproviders/ (never in production)
    LOCAL_PROVIDERS_URL = "http://localhost"  # where run.py (or the tests) serve the local providers
    DEV_OIDC_KEY_FILE: str | None = None  # signing key of the local OpenID Connect provider; None: in memory
    OPENID_ALLOW_PRIVATE_HOSTS = False
    # A successful OpenID 2.0 discovery at a sign-in's start is reused for this many seconds (0: never),
    # at most this many identifiers per worker; the callback's verification always discovers afresh.
    OPENID_DISCOVERY_CACHE_SECONDS = 60
    OPENID_DISCOVERY_CACHE_ENTRIES = 256
    # PostgreSQL that stops answering: seconds to connect, to run one statement (also enforced on the
    # client, which closes a connection whose answer is that late), idle seconds before TCP keepalives.
    DATABASE_CONNECT_TIMEOUT = 3
    DATABASE_STATEMENT_TIMEOUT = 5.0
    DATABASE_KEEPALIVES_IDLE = 30
    # PostgreSQL: a pooled connection idle longer than this many seconds is checked ("ping") before
    # use, so one that a database restart or failover cut is replaced, not handed to a request.
    # None: never (production sets 1.0). See app.database.ping_idle_connections.
    DATABASE_PING_AFTER_IDLE: float | None = None
    OUTBOUND_TIMEOUT = 5.0  # seconds for ALL outbound requests of one sign-in step (start or callback)
    SIGN_IN_STEPS_PER_CLIENT = 3  # sign-in steps one client address may have waiting on providers at once
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    REAUTH_MAX_AGE = 600  # seconds: adding or removing a sign-in method etc. needs a sign-in this recent
    DEVICE_SEEN_INTERVAL = 300  # seconds: a device session's "last active" is updated at most this often
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    RATELIMIT_STORAGE_URI = "memory://"  # redis://host:6379/0 to share counters between workers
    RATELIMIT_KEY_PREFIX = "microblog"  # keeps counters apart when several sites share one Redis
    LOGIN_RATE_LIMIT = "20 per minute"
    POST_RATE_LIMIT = "10 per minute"  # posts one signed-in user may publish (counted per user)
    TRUSTED_HOSTS = None  # Host names this site answers to, e.g. microblog.example,www.microblog.example
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True  # Redis unreachable: count per process, warn, retry Redis
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}  # a silent Redis
    # The shared cache of rendered post lists (app/shared_cache.py): redis://, rediss://, unix:// or
    # memory:// (each process alone); unset: RATELIMIT_STORAGE_URI when that is Redis, else memory://.
    CACHE_URL: str | None = None
    CACHE_DEFAULT_TIMEOUT = 300  # seconds an entry is kept (a change makes it unread at once anyway)
    # Reverse proxies in front of the app, per header; 0 = trust none (ProxyFix is not applied).
    PROXY_FIX_X_FOR = 0
    PROXY_FIX_X_PROTO = 0
    PROXY_FIX_X_HOST = 0
    PROXY_FIX_X_PORT = 0
    PROXY_FIX_X_PREFIX = 0
    LOG_FORMAT = "text"  # "json": one JSON object per line on stdout
    LOG_LEVEL = "INFO"
    LOG_REQUESTS = False  # one log line per request (method, path, status, time; never query or cookies)
    OIDC_PROVIDERS: dict[str, dict[str, str]] = {}  # built from OIDC_<NAME>_* settings by load_config
    OIDC_METADATA_TTL = 24 * 3600  # seconds a provider's discovery document and keys are kept
    DEBUG = False
    TESTING = False

    @classmethod
    def finalise(cls, settings: Settings) -> None:
        """Fill settings that depend on others; called after environment overrides."""
        database_settings(settings, sqlite_url("microblog.db"))
        default_openid_providers(settings)


class DevelopmentConfig(Config):
    """Local development: debug, local test provider, random secret kept in tmp/."""

    DEBUG = True
    DEV_OPENID_PROVIDER = True
    DEV_OIDC_KEY_FILE = str(TMP_DIR / "dev-oidc-key.json")
    OPENID_ALLOW_PRIVATE_HOSTS = True
    LOCAL_PROVIDERS_URL = "http://127.0.0.1:5000"  # run.py sets it from --host and --port

    @classmethod
    def finalise(cls, settings: Settings) -> None:
        super().finalise(settings)
        if not settings.get("SECRET_KEY"):
            settings["SECRET_KEY"] = dev_secret_key()


class TestingConfig(Config):
    """The test suite: throwaway database, local provider, relaxed limits."""

    TESTING = True
    DEV_OPENID_PROVIDER = True
    OPENID_ALLOW_PRIVATE_HOSTS = True
    LOGIN_RATE_LIMIT = "1000 per minute"
    POST_RATE_LIMIT = "1000 per minute"

    @classmethod
    def finalise(cls, settings: Settings) -> None:
        if not settings.get("SECRET_KEY"):
            settings["SECRET_KEY"] = secrets.token_hex(32)
        database_settings(settings, "sqlite:///:memory:")
        default_openid_providers(settings)


class ProductionConfig(Config):
    """Production: secrets from the environment, secure cookies, no local provider."""

    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-session"
    REMEMBER_COOKIE_NAME = "__Host-remember_token"
    LOG_FORMAT = "json"
    LOG_REQUESTS = True
    DATABASE_PING_AFTER_IDLE = 1.0

    @classmethod
    def finalise(cls, settings: Settings) -> None:
        super().finalise(settings)
        # Bound values (session tokens among them) never appear in database error messages or logs.
        engine_options: dict[str, bool] = {"hide_parameters": True}
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **engine_options,
            **settings.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
        }
        if not settings.get("SECRET_KEY"):
            raise ConfigError(
                "SECRET_KEY is not set: production refuses to start without it "
                f"(set the SECRET_KEY environment variable; make one with: {SECRET_KEY_RECIPE})."
            )
        if len(settings["SECRET_KEY"]) < SECRET_KEY_MIN:
            length = len(settings["SECRET_KEY"])
            raise ConfigError(
                f"SECRET_KEY is too short ({length} characters): production needs at least "
                f"{SECRET_KEY_MIN}. Make one with: {SECRET_KEY_RECIPE}"
            )
        if settings.get("DEV_OPENID_PROVIDER"):
            raise ConfigError(
                "DEV_OPENID_PROVIDER is on: the local test providers let anyone sign in as anyone, "
                "so production refuses to start with them."
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


# Settings whose default is None, with the parser of their value.
PARSED_WHEN_SET: dict[str, Callable[[str], Any]] = {
    "WTF_CSRF_TIME_LIMIT": int,
    "OPENID_PROVIDERS": json.loads,
    "TRUSTED_HOSTS": lambda raw: [item.strip() for item in raw.split(",") if item.strip()] or None,
}
# Built by load_config from OIDC_<NAME>_* (with their checks), never taken whole from the environment.
NOT_FROM_ENVIRONMENT = {"OIDC_PROVIDERS"}


def _parse_env_value(raw: str, current: object, key: str | None = None) -> Any:
    """Convert an environment string to the type of the setting it overrides."""
    if key in PARSED_WHEN_SET:
        return PARSED_WHEN_SET[key](raw)
    if isinstance(current, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, timedelta):
        return timedelta(seconds=int(raw))
    if isinstance(current, list | dict):
        return json.loads(raw)
    return raw


def load_config(
    name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings dict for a config name, applying environment overrides."""
    environ = os.environ if environ is None else environ
    name = name or environ.get("MICROBLOG_CONFIG", "development")
    if name not in CONFIGS:
        raise ConfigError(f"MICROBLOG_CONFIG={name!r} is not one of: {', '.join(sorted(CONFIGS))}.")
    cls = CONFIGS[name]
    settings = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
    for key, current in list(settings.items()):
        if key in environ and key not in NOT_FROM_ENVIRONMENT:
            settings[key] = _parse_env_value(environ[key], current, key)
    settings.update(overrides or {})
    settings["MICROBLOG_CONFIG"] = name
    cls.finalise(settings)
    check_cache_url(settings)
    settings["OIDC_PROVIDERS"] = oidc_providers(settings, environ)
    if settings.get("DEV_OPENID_PROVIDER"):
        settings.update(local_provider_settings(settings))
    return settings


def check_cache_url(settings: Settings) -> None:
    """Refuse a CACHE_URL the shared cache cannot use, naming the ones it can."""
    url = settings.get("CACHE_URL")
    if url and not str(url).startswith(CACHE_URL_SCHEMES):
        raise ConfigError(f"CACHE_URL must start with one of {', '.join(CACHE_URL_SCHEMES)} (it is {url!r}).")


def local_provider_settings(settings: Settings) -> Settings:
    """OPENID_PROVIDERS and OIDC_PROVIDERS with the local test providers served at LOCAL_PROVIDERS_URL.

    The site knows the local providers (devproviders/, mounted beside it by run.py and the tests)
    only through these ordinary provider settings. The OpenID Connect client secret is derived from
    SECRET_KEY, so the site and the local provider agree without storing it.
    """
    base = str(settings["LOCAL_PROVIDERS_URL"]).rstrip("/")
    secret = hmac.new(settings["SECRET_KEY"].encode(), b"microblog dev-oidc client secret", hashlib.sha256)
    openid_providers = [p for p in settings["OPENID_PROVIDERS"] if p.get("name") != LOCAL_PROVIDERS_NAME]
    local_openid = {
        "name": LOCAL_PROVIDERS_NAME,
        "url": f"{base}/dev-openid/<username>",
        "icon": LOCAL_OPENID_ICON,
    }
    local_oidc = {
        "client_id": LOCAL_OIDC_CLIENT_ID,
        "client_secret": secret.hexdigest(),
        "issuer": f"{base}/dev-oidc",
        "label": LOCAL_OIDC_LABEL,
        "icon": LOCAL_OIDC_ICON,
    }
    return {
        "OPENID_PROVIDERS": [*openid_providers, local_openid],
        "OIDC_PROVIDERS": {**settings["OIDC_PROVIDERS"], LOCAL_OIDC_NAME: local_oidc},
    }


def oidc_providers(settings: Settings, environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The OpenID Connect providers enabled by OIDC_<NAME>_* settings, by lower-case name.

    Values come from the environment, then from settings (overrides) of the same names; a
    ready-made OIDC_PROVIDERS dict in the overrides is kept. A provider is enabled by its client
    id and secret; its issuer comes from OIDC_<NAME>_ISSUER or a preset, its label likewise.
    """
    found: dict[str, dict[str, str]] = {}
    for source in (environ, settings):
        for key, value in source.items():
            match = OIDC_SETTING.match(key)
            if match and value not in (None, ""):
                found.setdefault(match.group(1).lower(), {})[match.group(2).lower()] = str(value).strip()
    providers = dict(settings.get("OIDC_PROVIDERS") or {})
    for name, values in sorted(found.items()):
        if values.get("client_id") or values.get("client_secret"):  # ISSUER or LABEL alone enable nothing
            providers[name] = _oidc_provider(name, values, settings)
    return providers


def _oidc_provider(name: str, values: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """One provider's settings, checked: client id and secret, an issuer, a label."""
    prefix = f"OIDC_{name.upper()}_"
    if not OIDC_NAME.match(name) or name in OIDC_RESERVED_NAMES:
        raise ConfigError(f"{prefix}*: the provider name {name!r} cannot be used; pick another.")
    missing = [f"{prefix}{part.upper()}" for part in ("client_id", "client_secret") if not values.get(part)]
    if missing:
        raise ConfigError(f"OpenID Connect provider {name!r} is incomplete: set {' and '.join(missing)}.")
    from app.providers import OIDC_PRESETS  # imported here: app imports config

    preset = OIDC_PRESETS.get(name)
    issuer = values.get("issuer") or (preset.issuer if preset else "")  # exact: some issuers end in "/"
    if not issuer:
        raise ConfigError(f"OpenID Connect provider {name!r} needs {prefix}ISSUER (its issuer URL).")
    if not issuer.startswith("https://") and not (
        settings.get("OPENID_ALLOW_PRIVATE_HOSTS") and issuer.startswith("http://")
    ):
        raise ConfigError(f"{prefix}ISSUER must be an https:// URL, not {issuer!r}.")
    provider = {
        "client_id": values["client_id"],
        "client_secret": values["client_secret"],
        "issuer": issuer,
        "label": values.get("label") or (preset.label if preset else name.replace("_", " ").title()),
    }
    if preset and preset.issuer_template and issuer == preset.issuer:
        provider["issuer_template"] = preset.issuer_template
    return provider
