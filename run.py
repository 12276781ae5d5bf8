"""Start the development server: python run.py [--host H] [--port P]."""

import argparse
import logging
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.serving import run_simple

from app import create_app
from app.database import ensure_schema
from app.ops.console import configure_console, port_taken, port_taken_message

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

QUERY_STRING = re.compile(r"\?\S*")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read --host and --port (defaults 127.0.0.1:5000)."""
    parser = argparse.ArgumentParser(description="Run the microblog development server.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    return parser.parse_args(argv)


class HideQueryStrings(logging.Filter):
    """Keep OpenID answers (they travel in query strings) out of the development server's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args and isinstance(record.args[0], str):
            record.args = (QUERY_STRING.sub("?…", record.args[0]), *record.args[1:])
        return True


def local_url(host: str, port: int) -> str:
    """The address the site and its local providers answer at, as the server itself reaches them."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - recognising "every address", not binding to it
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def wsgi_app(app: Flask) -> "WSGIApplication":
    """The site, with the local test providers mounted beside it when the configuration offers them."""
    if not app.config["DEV_OPENID_PROVIDER"]:
        return app
    from devproviders.mount import mount  # development only: production never imports it

    return mount(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Create the database if missing, then serve the app (debug only in development)."""
    args = parse_args(argv)
    reloaded = bool(os.environ.get("WERKZEUG_RUN_MAIN"))  # the reloader's child: the port is ours already
    if not reloaded and port_taken(args.host, args.port):
        raise SystemExit(port_taken_message(args.host, args.port))
    app = create_app(overrides={"LOCAL_PROVIDERS_URL": local_url(args.host, args.port)})
    configure_console(app)
    with app.app_context():
        ensure_schema()
    logging.getLogger("werkzeug").addFilter(HideQueryStrings())
    debug = app.config["MICROBLOG_CONFIG"] == "development" and app.config["DEBUG"]
    app.debug = debug
    if not reloaded:
        print(
            f" * Microblog ({app.config['MICROBLOG_CONFIG']}) on http://{args.host}:{args.port}/", flush=True
        )
    # threaded: the local test providers answer the app's own discovery requests.
    run_simple(
        args.host,
        args.port,
        wsgi_app(app),
        use_debugger=debug,
        use_reloader=debug and not os.environ.get("MICROBLOG_NO_RELOAD"),
        threaded=True,
    )


if __name__ == "__main__":
    main()
