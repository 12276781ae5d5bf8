"""Templates' url_for: Flask's URLs, each built once per site root and arguments (app.page_urls)."""

from flask import url_for

from app.page_urls import REMEMBERED_MAX

ENDPOINTS = [
    ("main.index", {}),
    ("auth.logout", {}),
    ("account.index", {}),
    ("profile.user", {"nickname": "alice"}),
    ("profile.user", {"nickname": "bob & co"}),
    ("main.index", {"before": "abc"}),
    ("static", {"filename": "style.css"}),
]


def built_by_flask(app, monkeypatch):
    """Count the URLs page_url asks Flask to build."""
    import app.page_urls as page_urls

    built = []

    def counting(endpoint, **values):
        built.append(endpoint)
        return url_for(endpoint, **values)

    monkeypatch.setattr(page_urls, "url_for", counting)
    return built


def test_page_urls_are_flasks_urls_built_once_per_site_root(app, monkeypatch):
    page_url = app.jinja_env.globals["url_for"]
    built = built_by_flask(app, monkeypatch)
    for root in ("", "/blog"):
        with app.test_request_context(environ_overrides={"SCRIPT_NAME": root}):
            for endpoint, values in ENDPOINTS * 3:
                assert page_url(endpoint, **values) == url_for(endpoint, **values)
            assert page_url("main.index") == f"{root}/"
    assert len(built) == 2 * len(ENDPOINTS)  # once per URL and root, not on every call


def test_relative_endpoints_options_and_unhashable_arguments_always_go_to_flask(app, monkeypatch):
    page_url = app.jinja_env.globals["url_for"]
    built = built_by_flask(app, monkeypatch)
    with app.test_request_context("/user/alice"):
        for _ in range(2):
            assert page_url("main.index", _external=True) == "http://localhost/"
            assert page_url("main.index", _anchor="top") == "/#top"
            assert page_url("main.index", tag=["a", "b"]) == url_for("main.index", tag=["a", "b"])
    assert len(built) == 6


def test_at_most_remembered_max_urls_are_kept(app, monkeypatch):
    page_url = app.jinja_env.globals["url_for"]
    built = built_by_flask(app, monkeypatch)
    with app.test_request_context():
        for n in range(REMEMBERED_MAX + 10):
            page_url("profile.user", nickname=f"user{n}")
        page_url("profile.user", nickname="user0")  # forgotten when the store started afresh
        page_url("profile.user", nickname=f"user{REMEMBERED_MAX + 9}")  # kept since
    assert len(built) == REMEMBERED_MAX + 11


def test_outside_a_request_page_urls_are_flasks(app):
    page_url = app.jinja_env.globals["url_for"]
    app.config["SERVER_NAME"] = "microblog.test"
    with app.app_context():
        assert page_url("main.index") == url_for("main.index") == "http://microblog.test/"
