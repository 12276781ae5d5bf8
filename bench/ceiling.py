"""The ceiling: a minimal Flask app rendering a page of the same size with Jinja, nothing else.

    CEILING_PAGE_BYTES=5826 gunicorn -c gunicorn.conf.py "bench.ceiling:create_app()"

No database, no session, no extensions: the most any Flask app can serve on this
machine with this server configuration. The page has the same shape as the index
(a base layout, 20 posts in a loop, autoescaped) and is padded to the given size.
"""

import os
from datetime import UTC, datetime, timedelta

from flask import Flask, render_template

POSTS = [
    {
        "body": f"Post number {n}: a short message of about the length people write.",
        "author": f"user{n}",
        "timestamp": datetime(2030, 1, 1, tzinfo=UTC) - timedelta(minutes=n),
    }
    for n in range(20)
]


def create_app():
    """Build the ceiling app; the padding is computed once so every page has exactly the target size."""
    app = Flask(__name__)
    padding = {"text": ""}

    @app.get("/")
    def page():
        return render_template("ceiling_page.html", posts=POSTS, padding=padding["text"])

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    target = int(os.environ.get("CEILING_PAGE_BYTES", "0"))
    with app.test_request_context():
        natural = len(render_template("ceiling_page.html", posts=POSTS, padding="").encode())
    padding["text"] = "x" * max(0, target - natural)

    return app
