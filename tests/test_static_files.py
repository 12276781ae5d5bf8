"""Static URLs carry a fingerprint of the file's content, so proxies may cache them for a year."""

import hashlib
from pathlib import Path

from flask import Flask, url_for

from app.page_urls import register_page_urls
from app.static_files import register_static_fingerprints

STATIC = Path(__file__).resolve().parent.parent / "app" / "static"


def test_static_urls_carry_the_contents_fingerprint(app):
    digest = hashlib.sha256((STATIC / "style.css").read_bytes()).hexdigest()[:12]
    with app.test_request_context():
        assert url_for("static", filename="style.css") == f"/static/style.css?v={digest}"
        assert url_for("static", filename="no-such-file.css") == "/static/no-such-file.css"
        assert url_for("static", filename="../config.py") == "/static/../config.py"  # nothing read outside


def test_a_changed_file_gets_a_new_url(tmp_path):
    site = Flask(__name__, static_folder=str(tmp_path), static_url_path="/static")
    register_static_fingerprints(site)
    site.debug = True  # files change while the development server runs
    (tmp_path / "a.css").write_text("body { color: red }")
    with site.test_request_context():
        first = url_for("static", filename="a.css")
        (tmp_path / "a.css").write_text("body { color: blue }")
        second = url_for("static", filename="a.css")
    assert first != second and first.startswith("/static/a.css?v=")


def test_the_page_links_fingerprinted_files(client):
    page = client.get("/login").get_data(as_text=True)
    assert "/static/style.css?v=" in page and "/static/login.js?v=" in page


def test_templates_static_url_is_url_for_remembered_per_site_root(app):
    static_url = app.jinja_env.globals["static_url"]
    for root in ("", "/blog"):
        with app.test_request_context(environ_overrides={"SCRIPT_NAME": root}):
            assert static_url("style.css") == url_for("static", filename="style.css")
            assert static_url("style.css").startswith(f"{root}/static/style.css?v=")
            assert static_url("no-such-file.css") == f"{root}/static/no-such-file.css"


def test_static_url_follows_a_changed_file_in_debug(tmp_path):
    site = Flask(__name__, static_folder=str(tmp_path), static_url_path="/static")
    register_static_fingerprints(site)
    register_page_urls(site)
    site.debug = True
    (tmp_path / "a.css").write_text("body { color: red }")
    with site.test_request_context():
        first = site.jinja_env.globals["static_url"]("a.css")
        (tmp_path / "a.css").write_text("body { color: blue }")
        assert site.jinja_env.globals["static_url"]("a.css") != first
