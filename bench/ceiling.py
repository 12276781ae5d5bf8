"""The ceiling: a minimal Flask app serving the app's own signed-in index page, byte for byte.

    CEILING_PAGE_FILE=page.html gunicorn -c gunicorn.conf.py "bench.ceiling:create_app()"

The benchmark captures the app's signed-in index page once and hands it over in a file. The
page is turned into a Jinja template: everything around the posts stays literal, and the posts
become one loop over data whose markup is shared by all of them, with every part that differs
between posts (id, author, times, body, ...) a variable, autoescaped as the app's are. The
template is compiled once at start; the app refuses to start unless its rendering is the
captured page exactly. No database, no session, no extensions: the most any Flask app can
serve on this machine with this server configuration for the same bytes.
"""

import html
import os
import re
from pathlib import Path

from flask import Flask, render_template
from jinja2 import DictLoader
from markupsafe import Markup, escape

TEMPLATE_NAME = "index.html"
POST = re.compile(r"<article\b.*?</article>", re.S)
# The parts of a post that may differ from one post to the next: attribute values and text.
SLOT = re.compile(r'="([^"]*)"|>([^<]+)<')


def literal(text):
    """Template source that renders as `text` exactly (Jinja would read a carriage return as a newline)."""
    if "{% endraw %}" in text:
        raise ValueError("the page contains '{% endraw %}' and cannot be made literal")
    return '{{ "\\r" }}'.join("{% raw %}" + part + "{% endraw %}" for part in text.split("\r"))


def split_post(post):
    """A post's markup as (skeleton pieces, slot values): pieces[0] slot[0] pieces[1] ... pieces[-1]."""
    pieces, values, position = [], [], 0
    for found in SLOT.finditer(post):
        group = 1 if found.group(1) is not None else 2
        pieces.append(post[position : found.start(group)])
        values.append(found.group(group))
        position = found.end(group)
    pieces.append(post[position:])
    return pieces, values


def as_data(value):
    """A captured (escaped) value as the data the template escapes again; Markup if that cannot round-trip."""
    raw = html.unescape(value)
    return raw if str(escape(raw)) == value else Markup(value)  # noqa: S704 - the app's own output


def page_template(page):
    """Template source for a captured page, and the posts' data it loops over."""
    posts = list(POST.finditer(page))
    if len(posts) < 2:
        raise ValueError(f"expected the page's posts as <article> elements, found {len(posts)}")
    separators = {page[a.end() : b.start()] for a, b in zip(posts, posts[1:], strict=False)}
    if len(separators) != 1:
        raise ValueError("the posts are not separated alike")
    split = [split_post(found.group()) for found in posts]
    skeleton = split[0][0]
    if any(pieces != skeleton for pieces, _ in split):
        raise ValueError("the posts do not share one markup")
    columns = list(zip(*(values for _, values in split), strict=True))
    varying = [i for i, column in enumerate(columns) if len(set(column)) > 1]
    body = [literal(skeleton[0])]
    for i, column in enumerate(columns):
        body.append(f"{{{{ post[{varying.index(i)}] }}}}" if i in varying else literal(column[0]))
        body.append(literal(skeleton[i + 1]))
    source = (
        literal(page[: posts[0].start()])
        + "{% for post in posts %}{% if not loop.first %}"
        + literal(separators.pop())
        + "{% endif %}"
        + "".join(body)
        + "{% endfor %}"
        + literal(page[posts[-1].end() :])
    )
    data = [tuple(as_data(values[i]) for i in varying) for _, values in split]
    return source, data


def create_app(page_file=None):
    """Build the ceiling app for a captured page; it does not start unless it renders that page exactly."""
    page = Path(page_file or os.environ["CEILING_PAGE_FILE"]).read_bytes().decode("utf-8")
    source, posts = page_template(page)
    app = Flask(__name__)
    app.jinja_loader = DictLoader({TEMPLATE_NAME: source})
    app.jinja_env.get_template(TEMPLATE_NAME)  # compiled once, here; kept in Jinja's cache

    @app.get("/")
    def index():
        return render_template(TEMPLATE_NAME, posts=posts)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    with app.test_request_context():
        rendered = render_template(TEMPLATE_NAME, posts=posts)
    if rendered != page:
        raise RuntimeError("the ceiling's template does not render the captured page byte for byte")
    return app
