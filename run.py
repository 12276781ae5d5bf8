"""Start the development server: python run.py [--host H] [--port P]."""

import argparse
import logging
import os
import re

from app import create_app
from app.database import ensure_schema

QUERY_STRING = re.compile(r"\?\S*")


def parse_args(argv=None):
    """Read --host and --port (defaults 127.0.0.1:5000)."""
    parser = argparse.ArgumentParser(description="Run the microblog development server.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    return parser.parse_args(argv)


class HideQueryStrings(logging.Filter):
    """Keep OpenID answers (they travel in query strings) out of the development server's log."""

    def filter(self, record):
        if isinstance(record.args, tuple) and record.args and isinstance(record.args[0], str):
            record.args = (QUERY_STRING.sub("?…", record.args[0]), *record.args[1:])
        return True


def main(argv=None):
    """Create the database if missing, then serve the app (debug only in development)."""
    args = parse_args(argv)
    app = create_app()
    with app.app_context():
        ensure_schema()
    logging.getLogger("werkzeug").addFilter(HideQueryStrings())
    debug = app.config["MICROBLOG_CONFIG"] == "development" and app.config["DEBUG"]
    print(f" * Microblog ({app.config['MICROBLOG_CONFIG']}) on http://{args.host}:{args.port}/")
    # threaded: the local test provider answers the app's own discovery requests.
    app.run(
        host=args.host,
        port=args.port,
        debug=debug,
        threaded=True,
        use_reloader=debug and not os.environ.get("MICROBLOG_NO_RELOAD"),
    )


if __name__ == "__main__":
    main()
