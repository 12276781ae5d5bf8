"""Keyset pages (?before= / ?after= cursors) on the index and profiles, old ?page=N links, post counts."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Post, User
from app.pagination import Cursor, decode_cursor, encode_cursor
from tests.support.queries import recorded_queries
from tests.support.web import csrf_token
from tests.test_queries import START, pager_link, post_numbers, seed

NEWEST = START + timedelta(minutes=44)  # seed(app, 45): post n is n minutes after START


def cursor_of(app, number):
    """The cursor of seeded post `number` ("post number N")."""
    with app.app_context():
        post = db.session.scalars(select(Post).where(Post.body == f"post number {number}")).one()
        return encode_cursor(post.timestamp, post.id)


def get(client, path):
    """The page at path (after a redirect to the newest posts, if any), checked to be a normal page."""
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 200, (path, response.status_code)
    html = response.get_data(as_text=True)
    assert "Traceback" not in html
    return html


# --- The cursor ------------------------------------------------------------------------------------


def test_a_cursor_is_microseconds_since_the_epoch_then_the_post_id():
    moment = datetime(2025, 12, 1, 10, 43, 0, 123456, tzinfo=UTC)
    assert encode_cursor(moment, 1234) == "1764585780123456-1234"
    assert decode_cursor("1764585780123456-1234") == Cursor(moment, 1234)


def test_a_naive_timestamp_from_sqlite_is_read_as_utc():
    naive = datetime(2030, 1, 1, 0, 5)
    assert encode_cursor(naive, 7) == encode_cursor(naive.replace(tzinfo=UTC), 7) == "1893456300000000-7"


def test_cursors_round_trip_to_the_microsecond():
    for moment in (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)):
        assert decode_cursor(encode_cursor(moment, 2**63 - 1)) == Cursor(moment, 2**63 - 1)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "abc",
        "123",
        "123-",
        "-123",
        "1-2-3",
        "-1-2",
        "1.5-2",
        " 1-2",
        "1-2 ",
        "1_000-2",
        "١٢٣-4",  # Arabic-Indic digits: int() would take them
        "１２-3",  # fullwidth digits
        "999999999999999999-1",  # past the year 9999
        "1-9223372036854775808",  # an id beyond BIGINT
        "1-" + "9" * 5000,
    ],
)
def test_malformed_or_out_of_range_cursors_read_as_none(text):
    assert decode_cursor(text) is None


# --- Walking the pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/user/author0"])
def test_older_and_newer_links_walk_every_post_once_each_way(app, client, path):
    seed(app, 100, authors=1)
    html = get(client, path)
    seen = [post_numbers(html)]
    while pager_link(html, "next"):
        html = get(client, pager_link(html, "next"))
        seen.append(post_numbers(html))
    assert [n for page in seen for n in page] == list(range(99, -1, -1))
    assert [len(page) for page in seen] == [20] * 5
    back = [post_numbers(html)]
    while pager_link(html, "prev"):
        html = get(client, pager_link(html, "prev"))
        back.append(post_numbers(html))
    assert back == seen[::-1]
    assert "Newer posts" not in html


def test_links_carry_the_first_and_last_post_shown(app, client):
    seed(app, 45, authors=3)
    second = get(client, f"/?before={cursor_of(app, 25)}")
    assert post_numbers(second) == list(range(24, 4, -1))
    assert pager_link(second, "prev") == f"/?after={cursor_of(app, 24)}"
    assert pager_link(second, "next") == f"/?before={cursor_of(app, 5)}"


def test_the_newer_link_shows_only_when_newer_posts_exist(app, client):
    seed(app, 45, authors=3)
    below_the_newest = get(client, f"/?before={cursor_of(app, 44)}")
    assert post_numbers(below_the_newest) == list(range(43, 23, -1))
    assert "Newer posts" in below_the_newest  # post 44 is newer
    just_above = encode_cursor(NEWEST + timedelta(microseconds=1), 0)
    top = get(client, f"/?before={just_above}")
    assert post_numbers(top) == list(range(44, 24, -1))
    assert "Newer posts" not in top and "Older posts" in top


@pytest.mark.parametrize("path", ["/", "/user/author0"])
def test_a_newer_link_that_reaches_the_newest_posts_goes_to_the_plain_url(app, client, path):
    seed(app, 45, authors=1)
    for newer in (30, 24):  # 14 posts are newer; exactly 20 are (as from the second page)
        response = client.get(f"{path}?after={cursor_of(app, newer)}")
        assert response.status_code == 302 and response.headers["Location"] == path


def test_a_newer_page_from_the_very_start_shows_the_oldest_posts(app, client):
    seed(app, 45, authors=3)
    html = get(client, "/?after=0-0")
    assert post_numbers(html) == list(range(19, -1, -1))
    assert "Newer posts" in html and "Older posts" not in html


def test_posts_with_the_same_timestamp_page_by_id_in_both_directions(app, client, auth):
    auth.login("reader")
    with app.app_context():
        author = db.session.scalars(select(User).where(User.nickname == "reader")).one()
        db.session.add_all(Post(body=f"post number {n}", author=author, timestamp=START) for n in range(50))
        db.session.commit()
        by_id = dict(db.session.execute(select(Post.id, Post.body)).all())
    expected = [int(by_id[i].rsplit(" ", 1)[1]) for i in sorted(by_id, reverse=True)]
    for path in ("/", "/user/reader"):
        first = get(client, path)
        second = get(client, pager_link(first, "next"))
        third = get(client, pager_link(second, "next"))
        assert post_numbers(first) + post_numbers(second) + post_numbers(third) == expected, path
        assert post_numbers(get(client, pager_link(third, "prev"))) == expected[20:40], path


def test_suspended_authors_stay_hidden_and_do_not_make_links(app, client, runner):
    seed(app, 20, authors=1, prefix="shown")
    with app.app_context():  # five older posts by someone about to be suspended
        hidden = User(nickname="hidden", session_token="hidden-token")
        db.session.add_all(
            Post(body=f"hidden post {n}", author=hidden, timestamp=START - timedelta(minutes=n + 1))
            for n in range(5)
        )
        db.session.commit()
    assert runner.invoke(args=["users", "suspend", "hidden"]).exit_code == 0
    html = get(client, "/")
    assert post_numbers(html) == list(range(19, -1, -1))
    assert "Older posts" not in html  # the older posts exist, but none is shown
    assert "hidden post" not in get(client, f"/?before={cursor_of(app, 10)}")
    newer_than_hidden = client.get(f"/?after={encode_cursor(START - timedelta(minutes=30), 0)}")
    assert newer_than_hidden.headers["Location"] == "/"  # only the 20 shown posts are newer


# --- Odd cursors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("argument", ["before", "after"])
@pytest.mark.parametrize(
    "value", ["junk", "", "1-2-3", "999999999999999999-1", "1-9223372036854775808", "1" * 5000]
)
@pytest.mark.parametrize("path", ["/", "/user/author0"])
def test_a_malformed_cursor_shows_the_newest_posts(app, client, path, argument, value):
    seed(app, 25, authors=1)
    html = get(client, f"{path}?{argument}={value}")
    assert post_numbers(html) == list(range(24, 4, -1))
    assert "Newer posts" not in html and "Older posts" in html


@pytest.mark.parametrize("path", ["/", "/user/author0"])
def test_a_cursor_with_nothing_older_says_the_page_is_past_the_end(app, client, path):
    seed(app, 3, authors=1)
    html = get(client, f"{path}?before=0-0")
    assert post_numbers(html) == []
    assert "There are no posts on this page." in html and "No posts yet" not in html
    assert f'href="{path}">Go to the newest posts</a>' in html


def test_the_extreme_valid_cursors_give_normal_pages(app, client):
    seed(app, 3, authors=1)
    top = encode_cursor(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 2**63 - 1)
    assert post_numbers(get(client, f"/?before={top}")) == [2, 1, 0]
    assert client.get(f"/?after={top}").headers["Location"] == "/"  # nothing newer: the newest posts


# --- Old page-number links --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/index"])
@pytest.mark.parametrize("page", ["1", "0", "-3", "abc", "", "1.5", "²"])
def test_page_1_and_page_values_that_are_not_numbers_go_to_the_plain_url(app, client, path, page):
    seed(app, 25, authors=1)
    response = client.get(f"{path}?page={page}")
    assert response.status_code == 301
    assert response.headers["Location"] == "/"


def test_an_old_page_number_moves_permanently_to_the_same_posts(app, client):
    seed(app, 45, authors=3)
    response = client.get("/?page=2")
    assert response.status_code == 301
    assert response.headers["Location"] == f"/?before={cursor_of(app, 25)}"
    assert post_numbers(get(client, response.headers["Location"])) == list(range(24, 4, -1))
    last = client.get("/index?page=3")
    assert last.headers["Location"] == f"/?before={cursor_of(app, 5)}"
    assert post_numbers(get(client, last.headers["Location"])) == [4, 3, 2, 1, 0]


@pytest.mark.parametrize("page", ["4", "99", "1000000000", "99999999999999999999999", "9" * 5000])
def test_an_old_page_number_past_the_end_says_so(app, client, page):
    seed(app, 45, authors=3)  # three pages
    html = get(client, f"/?page={page}")
    assert post_numbers(html) == []
    assert "There are no posts on this page." in html
    assert 'href="/">Go to the newest posts</a>' in html


def test_old_profile_page_numbers_keep_the_nickname(app, client):
    seed(app, 45, authors=1)
    assert client.get("/user/author0?page=1").headers["Location"] == "/user/author0"
    response = client.get("/user/author0?page=2")
    assert response.status_code == 301
    assert response.headers["Location"] == f"/user/author0?before={cursor_of(app, 25)}"
    assert "There are no posts on this page." in get(client, "/user/author0?page=4")


@pytest.mark.parametrize("query", ["before=1893456300000000-6", "after=1893456300000000-6", "page=2"])
def test_the_nickname_case_redirect_keeps_the_page(app, client, query):
    seed(app, 45, authors=1)
    response = client.get(f"/user/AUTHOR0?{query}&nickname=x")
    assert response.status_code == 301
    assert response.headers["Location"] == f"/user/author0?{query}"


# --- Queries ----------------------------------------------------------------------------------------


def page_queries(app, client, path):
    with recorded_queries(app) as queries:
        response = client.get(path)
    assert response.status_code in (200, 301, 302), path
    return queries


@pytest.mark.parametrize("base", ["/", "/user/author0"])
def test_every_kind_of_page_runs_at_most_three_queries_signed_in(app, client, auth, base):
    auth.login("reader")
    seed(app, 100, authors=1)
    joiner = "&" if "?" in base else "?"
    paths = [
        base,
        f"{base}{joiner}before={cursor_of(app, 50)}",  # Newer and Older links both shown
        f"{base}{joiner}after={cursor_of(app, 50)}",
        f"{base}{joiner}after={cursor_of(app, 90)}",  # reaches the top: the newest page
        f"{base}{joiner}before=0-0",  # past the end
        f"{base}{joiner}page=3",  # an old link: one lookup, then a redirect
        f"{base}{joiner}page=99",
    ]
    for path in paths:
        queries = page_queries(app, client, path)
        assert len(queries) <= 3, (path, queries)
        assert not any("count(" in q.lower() for q, _ in queries), (path, queries)


def offsets(queries):
    """The OFFSET of each recorded query that has one (SQLite's dialect binds OFFSET 0 with a LIMIT)."""
    return [
        params[-1] if isinstance(params, tuple | list) else params["offset"]
        for statement, params in queries
        if "OFFSET" in statement
    ]


def test_only_old_page_number_links_use_an_offset(app, client):
    seed(app, 100, authors=1)
    for path in ("/", f"/?before={cursor_of(app, 50)}", f"/?after={cursor_of(app, 50)}", "/user/author0"):
        assert set(offsets(page_queries(app, client, path))) <= {0}, path
    assert offsets(page_queries(app, client, "/?page=3")) == [39]  # the last post of the old page 2


# --- Post counts ------------------------------------------------------------------------------------


def post_count(app, nickname):
    with app.app_context():
        return db.session.scalars(select(User.post_count).where(User.nickname == nickname)).one()


def test_publishing_counts_the_post(app, client, auth):
    auth.login("writer")
    for n in range(3):
        token = csrf_token(client.get("/").get_data(as_text=True))
        assert client.post("/", data={"csrf_token": token, "body": f"note {n}"}).status_code == 302
    assert post_count(app, "writer") == 3
    assert "</span> 3 posts\n" in get(client, "/user/writer")


def test_a_refused_post_is_not_counted(app, client, auth):
    auth.login("writer")
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/", data={"csrf_token": token, "body": ""}).status_code == 200
    assert post_count(app, "writer") == 0


def test_the_profile_reads_the_count_without_counting(app, client):
    seed(app, 30, authors=1)
    with app.app_context():
        db.session.execute(User.__table__.update().values(post_count=12345))
        db.session.commit()
    queries = page_queries(app, client, "/user/author0")
    assert "</span> 12345 posts\n" in get(client, "/user/author0")
    assert not any("count(" in q.lower() for q, _ in queries)


# --- The rendered list ------------------------------------------------------------------------------

# The markup the post list had when it rendered ORM objects (captured before the change to plain rows):
# rows must give the same bytes, escaping included.
EXPECTED_ARTICLE = """<article class="post" id="post-{id}">
  <span class="avatar tone-0" aria-hidden="true">B</span>
  <div class="post-main">
    <p class="post-meta">
      <a class="post-author" href="/user/Bob%3C&amp;%3E%22&#39;"><bdi>Bob&lt;&amp;&gt;&#34;&#39;</bdi></a>
      <span aria-hidden="true">\u00b7</span>
      <time datetime="2030-01-01T00:00:00+00:00" title="1 January 2030, 00:00 UTC">just now</time>
    </p>
    <p class="post-body" dir="auto">post 1 &lt;b&gt;&amp;amp; &#34;q&#34; &#39;x&#39; \u202e</p>
  </div>
</article>"""


@pytest.mark.parametrize("path", ["/", "/user/Bob%3C&%3E%22'"])
def test_the_post_list_markup_is_unchanged(app, client, path):
    with app.app_context():
        author = User(nickname="Bob<&>\"'", session_token="bob-token")
        post = Post(body="post 1 <b>&amp; \"q\" 'x' \u202e", author=author, timestamp=START)
        db.session.add(post)
        db.session.commit()
        post_id = post.id
    html = get(client, path)  # START is in the future: "just now", as for a clock running behind
    assert EXPECTED_ARTICLE.format(id=post_id) in html
