"""Input and output: C1 controls refused, bidi text isolated, a posting limit, no caching, trusted hosts."""

import pytest
from lxml import html as lxml_html
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models import Post
from config import load_config
from tests.support.web import csrf_token

BIDI_ATTACK = "\u202eevil text\u2066 that flows on"


def post(client, body):
    token = csrf_token(client.get("/").text)
    return client.post("/", data={"csrf_token": token, "body": body})


def post_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Post.id)))


@pytest.mark.parametrize("char", ["\x80", "\x85", "\x9b", "\x9f"])
def test_c1_controls_are_refused_in_posts_like_c0(app, client, auth, char):
    auth.login()
    answer = post(client, f"hello{char}world")
    assert answer.status_code == 200
    assert "invisible control characters" in answer.text
    assert post_count(app) == 0


def test_bidi_text_in_a_post_stays_inside_its_own_isolate(app, client, auth):
    auth.login("writer")
    assert post(client, BIDI_ATTACK).status_code == 302  # right-to-left text is welcome
    for path in ("/", "/user/writer"):
        tree = lxml_html.fromstring(client.get(path).text)
        [body] = tree.xpath('//p[contains(@class, "post-body")]')
        assert body.get("dir") == "auto"  # an isolate: its text cannot reorder the page around it
        assert body.text_content() == BIDI_ATTACK
        [author] = tree.xpath('//a[contains(@class, "post-author")]')
        assert [child.tag for child in author] == ["bdi"]


def test_nicknames_and_provider_names_are_isolated_on_the_profile(app, client, auth):
    auth.login("writer")
    tree = lxml_html.fromstring(client.get("/user/writer").text)
    assert tree.xpath('//h1[@id="profile-title"]/bdi/text()') == ["writer"]
    assert tree.xpath('//*[contains(@class, "nav-user-name")]/bdi/text()') == ["writer"]
    assert all(chip.xpath("./bdi") for chip in tree.xpath('//li[contains(@class, "chip")]'))


def test_posting_is_limited_per_user(app, client, auth):
    app.config["POST_RATE_LIMIT"] = "3 per minute"
    auth.login("eager")
    statuses = [post(client, f"post {n}").status_code for n in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert post_count(app) == 3
    other = app.test_client()
    from tests.conftest import AuthActions

    AuthActions(app, other).login("calm")
    assert post(other, "my first").status_code == 302  # counted per user, not for everyone


def test_default_posting_limit_is_sensible():
    settings = load_config("production", environ={"SECRET_KEY": "s" * 40})
    assert settings["POST_RATE_LIMIT"] == "10 per minute"


def test_signed_in_pages_are_never_cached(client, auth):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    auth.login()
    for path in ("/", "/user/tester", "/profile/edit"):
        assert client.get(path).headers["Cache-Control"] == "private, no-store", path


def test_a_header_the_view_set_itself_is_kept_and_not_repeated(client, auth):
    auth.login()
    export = client.get("/account/export")
    assert export.status_code == 200
    assert export.headers.getlist("Cache-Control") == ["no-store"]
    assert len(export.headers.getlist("Content-Security-Policy")) == 1


def test_trusted_hosts_refuse_other_host_headers(database_url):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url, "TRUSTED_HOSTS": ["good.example"]})
    client = app.test_client()
    assert client.get("/login", headers={"Host": "good.example"}).status_code == 200
    assert client.get("/login", headers={"Host": "evil.example"}).status_code == 400


def test_trusted_hosts_come_from_the_environment_as_a_list():
    environ = {"SECRET_KEY": "s" * 40, "TRUSTED_HOSTS": "microblog.example, www.microblog.example"}
    settings = load_config("production", environ=environ)
    assert settings["TRUSTED_HOSTS"] == ["microblog.example", "www.microblog.example"]
