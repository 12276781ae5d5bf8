"""Gunicorn settings for production.

    MICROBLOG_CONFIG=production gunicorn -c gunicorn.conf.py "app:create_app()"

Workers come from WEB_CONCURRENCY (default: 2 per CPU core, plus one), threads per
worker from GUNICORN_THREADS (default 4). The address comes from the command line
(`-b 127.0.0.1:8000`), else from PORT (all interfaces), else 127.0.0.1:8000.
Workers share nothing but the database (and Redis for rate limits), so they can
also run on several hosts.
"""

import importlib
import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
# Threads let a worker keep serving while a sign-in waits on a remote OpenID provider.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
if os.environ.get("PORT"):
    bind = [f"0.0.0.0:{os.environ['PORT']}"]
else:
    bind = ["127.0.0.1:8000"]

timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle each worker now and then, so a slow leak can never grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 5000)
max_requests_jitter = 500

# Proxy headers are trusted by the app's ProxyFix settings alone (PROXY_FIX_*), not by gunicorn.
forwarded_allow_ips = ""
forwarder_headers = ""
# No control socket: several instances may run under one user.
control_socket_disable = True

# Compiled libraries every worker loads, imported once here in the master before it forks the workers.
# A worker's resident set then holds only the pages of their shared objects that the worker itself
# uses, not those that only loading them touches: about 4 MB a worker at start, 2.5 after a load
# (lxml's libxml2, expat, charset_normalizer's compiled parts). Libraries only, as Flask,
# SQLAlchemy and psycopg already are here (for the start-up check): the app's own code is imported
# by each worker, so a HUP still loads a deploy's new code.
PRELOADED_LIBRARIES = ("lxml.etree", "requests", "defusedxml.ElementTree")
# With an OpenID Connect provider configured, also cryptography's compiled core (14 MB, with its own
# OpenSSL), which a worker loads at its first OpenID Connect callback: about 2.5 MB less per worker
# once it has signed someone in (87 against 89.5 MB on PostgreSQL), 1.3 MB more at start.
OIDC_LIBRARIES = ("cryptography.hazmat.bindings._rust",)
# glibc's mallopt() parameter for the most malloc arenas a process may have.
M_ARENA_MAX = -8

# Gunicorn's access log would print query strings (an OpenID answer arrives in one);
# the app writes its own request line instead (LOG_REQUESTS). Server messages: JSON on stdout.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
    "handlers": {"json": {"class": "app.ops.logs.StdoutHandler", "formatter": "json"}},
    "formatters": {"json": {"()": "app.ops.logs.JsonFormatter"}},
}


def on_starting(server):
    """Check the settings once in the master: a missing SECRET_KEY stops gunicorn with a clear message
    (a worker failing on it would only be restarted over and over); an unmigrated database is warned of.
    Then load PRELOADED_LIBRARIES (and OIDC_LIBRARIES when a provider is configured), which the
    workers share."""
    from config import ConfigError, load_config

    try:
        settings = load_config()
    except ConfigError as exc:
        server.log.error("microblog: %s", exc)
        raise SystemExit(1) from None
    # Once, here: a database that is unreachable or not at the latest migration, and what to run.
    from app.ops.schema import startup_check
    from app.ops.startup import redis_error_line

    startup_check(settings["SQLALCHEMY_DATABASE_URI"], server.log.warning)
    # Sign-in needs its rate-limit counters: without Redis every sign-in would fail, so do not start.
    redis_problem = redis_error_line(settings["RATELIMIT_STORAGE_URI"])
    if redis_problem:
        server.log.error("microblog: %s", redis_problem)
        raise SystemExit(1)
    for name in PRELOADED_LIBRARIES + (OIDC_LIBRARIES if settings["OIDC_PROVIDERS"] else ()):
        importlib.import_module(name)


def post_fork(server, worker):
    """In each worker, before its threads start: one malloc arena for all of them (glibc only).

    By default glibc gives each thread that allocates an arena of its own, and what a request frees
    in one stays there for that thread: about 2 MB a worker with 4 threads. The threads run Python
    one at a time (the GIL), so sharing the main arena cost no measurable CPU per request. A
    MALLOC_ARENA_MAX in the environment is left to rule.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not glibc():
        return
    import ctypes

    ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)


def glibc():
    """Whether this process runs on glibc (whose mallopt takes M_ARENA_MAX)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False
