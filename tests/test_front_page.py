"""The public front page and the rough edges of issue 12: messages, empty pages, error pages, sign-out."""

import re

import pytest

from app import create_app
from app.database import dispose_engines
from app.extensions import db
from tests.support.queries import recorded_queries
from tests.support.web import csrf_token, flashes
from tests.test_queries import pager_link, post_numbers, seed

TIME_PATTERN = re.compile(r"<time ([^>]*)>([^<]*)</time>")


def page_text(response):
    return response.get_data(as_text=True)


def shown_flashes(response):
    return flashes(page_text(response))


# --- The front page --------------------------------------------------------------------------------


def test_anonymous_visitor_sees_everyones_latest_posts_with_a_welcome(app, client):
    seed(app, 3, authors=2)
    response = client.get("/")
    assert response.status_code == 200  # no redirect to the login page
    html = page_text(response)
    assert post_numbers(html) == [2, 1, 0]
    assert {"author0", "author1"} <= set(re.findall(r'class="post-author" href="/user/(\w+)"', html))
    assert '<h1 id="welcome-title">Welcome to Microblog</h1>' in html
    assert 'id="welcome-sign-in" href="/login"' in html or 'href="/login" id="welcome-sign-in"' in html
    assert shown_flashes(response) == []  # no "Please sign in to see this page."
    assert 'name="body"' not in html  # no post form for a visitor


def test_front_page_index_path_is_public_too(client):
    assert client.get("/index").status_code == 200


def test_front_page_with_no_posts_invites_the_first_one(client):
    html = page_text(client.get("/"))
    assert "No posts yet. Sign in and be the first to say something!" in html


def test_front_page_pages_are_20_posts_with_older_and_newer_links(app, client):
    seed(app, 25, authors=3)
    first = page_text(client.get("/"))
    assert post_numbers(first) == list(range(24, 4, -1))
    # The Older link carries the last post shown (post 5, at 00:05 on 1 January 2030) as a cursor.
    assert re.search(r'href="/\?before=1893456300000000-\d+" rel="next"', first)
    second = page_text(client.get(pager_link(first, "next")))
    assert post_numbers(second) == [4, 3, 2, 1, 0]
    assert re.search(r'href="/\?after=1893456240000000-\d+" rel="prev"', second)
    assert 'rel="next"' not in second


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "signed-in"])
def test_front_page_runs_at_most_three_queries(app, client, auth, signed_in):
    seed(app, 60)
    if signed_in:
        auth.login("reader")
    second_page = pager_link(page_text(client.get("/")), "next")
    with recorded_queries(app) as queries:
        response = client.get(second_page)
    assert response.status_code == 200
    assert len(post_numbers(page_text(response))) == 20
    assert len(queries) <= 3, [statement for statement, _ in queries]


def test_signed_in_visitor_gets_the_post_form_above_the_same_timeline(app, client, auth):
    seed(app, 2, authors=1)
    auth.login("writer")
    html = page_text(client.get("/"))
    assert "Hi, writer!" in html and 'id="welcome"' not in html
    assert html.index('id="post-form"') < html.index('id="timeline-title"') < html.index("post number 1")


def test_relative_times_carry_the_absolute_time(app, client):
    seed(app, 2, authors=1)
    times = TIME_PATTERN.findall(page_text(client.get("/")))
    assert len(times) == 2
    for attributes, _shown in times:
        assert re.search(r'datetime="2030-01-01T00:0\d:00\+00:00"', attributes), attributes
        assert re.search(r'title="1 January 2030, 00:0\d UTC"', attributes), attributes


# --- Pages past the end ----------------------------------------------------------------------------


def test_a_page_past_the_end_says_so_rather_than_no_posts_yet(app, client):
    seed(app, 3, authors=1)
    html = page_text(client.get("/?page=999"))
    assert "No posts yet" not in html
    assert "There are no posts on this page." in html
    assert 'href="/">Go to the newest posts</a>' in html


def test_a_profile_page_past_the_end_says_so_too(app, client):
    seed(app, 3, authors=1)
    html = page_text(client.get("/user/author0?page=50"))
    assert "not posted anything yet" not in html
    assert "There are no posts on this page." in html
    assert 'href="/user/author0">Go to the newest posts</a>' in html


# --- Error pages -----------------------------------------------------------------------------------


def test_a_missing_profile_says_which_profile_is_missing(client):
    response = client.get("/user/nobody-here")
    assert response.status_code == 404
    html = page_text(response)
    assert '<h1 id="error-title">No such profile</h1>' in html
    assert "No one on Microblog is called “nobody-here”" in html
    assert "Page not found" not in html


def test_a_missing_profile_name_is_escaped(client):
    html = page_text(client.get("/user/%3Cb%3Ebold"))
    assert "No such profile" in html
    assert "<b>bold" not in html and "&lt;b&gt;bold" in html


def test_the_404_page_offers_sign_in_once(client):
    html = page_text(client.get("/no/such/page"))
    assert len(re.findall(r">Sign in</a>", html)) == 1


# --- Signing out -----------------------------------------------------------------------------------


def test_signing_out_shows_only_the_signed_out_message(app, client, auth):
    auth.login("alice")
    token = csrf_token(page_text(client.get("/")))
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=True)
    assert response.request.path == "/"
    assert shown_flashes(response) == [("info", "You have been signed out.")]


def test_the_nav_says_sign_out_and_keeps_sign_out_everywhere_for_the_profile(app, client, auth):
    auth.login("alice")
    html = page_text(client.get("/"))
    nav = html[html.index('<nav class="nav"') : html.index("</nav>")]
    assert '<button type="submit" class="nav-button" id="logout">Sign out</button>' in nav
    assert "Logout" not in html
    assert "Sign out everywhere" not in nav


def test_sign_out_everywhere_asks_first_and_a_get_changes_nothing(app, client, auth):
    auth.login("alice")
    profile = page_text(client.get("/user/alice"))
    assert 'href="/logout/everywhere" id="logout-everywhere"' in profile
    assert 'action="/logout/everywhere"' not in profile  # no one-click form on the profile
    ask = client.get("/logout/everywhere")
    assert ask.status_code == 200
    html = page_text(ask)
    assert "Sign out everywhere?" in html
    assert 'action="/logout/everywhere"' in html and 'id="confirm-logout-everywhere"' in html
    assert client.get("/profile/edit").status_code == 200  # still signed in after the GET
    done = client.post("/logout/everywhere", data={"csrf_token": csrf_token(html)}, follow_redirects=True)
    assert shown_flashes(done) == [("info", "You have been signed out on every device.")]
    assert client.get("/profile/edit").status_code == 302


def test_home_stays_highlighted_after_a_refused_post(app, client, auth):
    auth.login("alice")
    token = csrf_token(page_text(client.get("/")))
    html = page_text(client.post("/", data={"csrf_token": token, "body": ""}))
    assert "Your post is empty" in html
    assert '<a class="nav-link" href="/" aria-current="page">Home</a>' in html


# --- Sign-in messages ------------------------------------------------------------------------------


def post_login(client, **fields):
    token = csrf_token(page_text(client.get("/login")))
    return client.post("/login", data={"csrf_token": token, **fields})


def openid_field(html):
    return re.search(r'<input[^>]*id="openid"[^>]*>', html).group(0)


@pytest.mark.parametrize(
    "typed", ["http://127.0.0.1:9/nobody", "not a url"], ids=["unreachable", "not-a-url"]
)
def test_a_bad_openid_address_is_kept_marked_invalid_and_focused(client, typed):
    response = post_login(client, openid=typed)
    assert response.status_code == 200
    html = page_text(response)
    [(category, _message)] = shown_flashes(response)
    assert category == "error"
    field = openid_field(html)
    assert f'value="{typed}"' in field
    assert 'aria-invalid="true"' in field and "autofocus" in field
    assert 'aria-describedby="flashes openid-hint"' in field and 'id="flashes"' in html


def test_a_good_login_page_does_not_mark_the_field(client):
    field = openid_field(page_text(client.get("/login")))
    assert "aria-invalid" not in field and "autofocus" not in field


@pytest.fixture
def offline_app(database_url):
    """A site whose Steam button points at a port where nothing answers (as with no internet)."""
    providers = [{"name": "Steam", "url": "http://127.0.0.1:9/openid"}]
    app = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "OPENID_PROVIDERS": providers,
            "OPENID_ALLOW_PRIVATE_HOSTS": True,
        },
    )
    yield app
    with app.app_context():
        db.session.remove()
        dispose_engines()


def test_an_unreachable_provider_button_names_the_provider_not_an_address(offline_app):
    client = offline_app.test_client()
    response = post_login(client, openid="", provider="0")
    [(category, message)] = shown_flashes(response)
    assert category == "error"
    assert message.startswith("We could not reach Steam just now.")
    assert "address" not in message
    assert 'aria-invalid="true"' not in openid_field(page_text(response))  # nothing typed, nothing to mark


def test_flash_messages_are_a_list_inside_a_status_region(app, client, auth):
    auth.login("alice")
    token = csrf_token(page_text(client.get("/")))
    html = page_text(client.post("/logout", data={"csrf_token": token}, follow_redirects=True))
    assert re.search(r'<div class="flashes" id="flashes" role="status">\s*<ul>\s*<li class="flash', html)
    assert not re.search(r"<ul[^>]*role=", html)


def test_a_refused_connection_is_logged_as_refused_not_as_slow(client, caplog):
    caplog.set_level("INFO", logger="app.auth.openid2.views")
    post_login(client, openid="http://127.0.0.1:9/nobody")
    logged = [r.getMessage() for r in caplog.records if "discovery failed" in r.getMessage()]
    assert len(logged) == 1
    assert "Connection refused" in logged[0] and "took too long" not in logged[0]
