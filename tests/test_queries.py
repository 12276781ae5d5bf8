"""Queries and growth: a fixed number of queries per index page, 20 posts a page, lookups use indexes."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import insert, select

from app.auth.flow import find_user
from app.extensions import db
from app.models import OPENID2_ISSUER, Identity, Post, User
from app.shared_cache import bump_content_version
from tests.support.queries import query_plan, recorded_queries
from tests.support.web import timeline

START = datetime(2030, 1, 1, tzinfo=UTC)


def seed(app, posts, authors=50, prefix="author"):
    """Add authors and posts (post n is n minutes after START, so newest = highest n)."""
    with app.app_context():
        db.session.execute(
            insert(User),
            [{"nickname": f"{prefix}{i}", "session_token": f"{prefix}-token-{i}"} for i in range(authors)],
        )
        ids = db.session.scalars(select(User.id).where(User.nickname.like(f"{prefix}%"))).all()
        rows = [
            {
                "body": f"post number {n}",
                "user_id": ids[n % len(ids)],
                "timestamp": START + timedelta(minutes=n),
            }
            for n in range(posts)
        ]
        db.session.execute(insert(Post), rows)
        bump_content_version()  # as every change readers see does: cached pages show the new posts
        db.session.commit()


@pytest.fixture
def page_cache_off(monkeypatch):
    """Every page runs its posts query, for tests about that query (the cache would skip it)."""
    monkeypatch.setattr("app.main.fragments.cached", lambda key, build: build())


def index_queries(app, client, path="/"):
    """The SQL statements run while serving path to the signed-in client, and the page."""
    with recorded_queries(app) as queries:
        page = client.get(path)
    assert page.status_code == 200
    return [statement for statement, _ in queries], page.get_data(as_text=True)


def post_numbers(html):
    return [int(n) for n in re.findall(r"post number (\d+)", html)]


@pytest.mark.parametrize("posts", [10, 1000])
def test_signed_in_index_runs_at_most_three_queries(app, client, auth, posts):
    auth.login("reader")
    seed(app, posts)
    queries, html = index_queries(app, client)
    assert "Hi, reader!" in html
    assert len(queries) <= 3, queries
    # Flask-Login's user load is one of them: it is counted, not hidden in a fixture.
    assert any("session_token =" in q for q in queries), queries


def test_query_count_is_the_same_with_10_and_1000_posts(app, client, auth):
    auth.login("reader")
    seed(app, 10, authors=10)
    few, _ = index_queries(app, client)
    seed(app, 990, authors=500, prefix="writer")  # many more posts and authors: an N+1 would show here
    many, html = index_queries(app, client)
    assert len(few) == len(many) <= 3
    assert len(set(re.findall(r'class="post-author"[^>]*><bdi>([^<]+)<', html))) > 1  # authors really vary


def pager_link(html, rel):
    """The href of the pager's Newer (rel="prev") or Older (rel="next") link, or None."""
    match = re.search(rf'<a class="button" href="([^"]+)" rel="{rel}">', html)
    return unescape(match[1]) if match else None


def test_posts_are_paginated_twenty_per_page_newest_first(app, client, auth):
    auth.login("reader")
    seed(app, 45)
    _, first = index_queries(app, client)
    assert post_numbers(first) == list(range(44, 24, -1))
    assert 'rel="next"' in first and "Older posts" in first
    assert 'rel="prev"' not in first

    _, second = index_queries(app, client, pager_link(first, "next"))
    assert post_numbers(second) == list(range(24, 4, -1))
    assert "Newer posts" in second and "Older posts" in second

    _, last = index_queries(app, client, pager_link(second, "next"))
    assert post_numbers(last) == [4, 3, 2, 1, 0]
    assert "Newer posts" in last and "Older posts" not in last

    _, back = index_queries(app, client, pager_link(last, "prev"))
    assert post_numbers(back) == list(range(24, 4, -1))
    assert pager_link(back, "next") == pager_link(second, "next")
    to_top = client.get(pager_link(back, "prev"))  # the newest posts are at the plain URL
    assert to_top.status_code == 302 and to_top.headers["Location"] == "/"
    _, top = index_queries(app, client, "/")
    assert post_numbers(top) == list(range(44, 24, -1))
    assert "Newer posts" not in top and "Older posts" in top


@pytest.mark.parametrize("path", ["/", "/user/author3"])
def test_deeper_pages_run_the_same_number_of_queries(app, client, auth, path):
    auth.login("reader")
    seed(app, 1000, authors=5)  # 200 posts each: ten pages of a profile
    first, html = index_queries(app, client, path)
    for _ in range(3):  # three pages down: older and newer links both shown
        html = index_queries(app, client, pager_link(html, "next"))[1]
    deep, deep_html = index_queries(app, client, pager_link(html, "next"))
    back, back_html = index_queries(app, client, pager_link(deep_html, "prev"))
    assert len(deep) == len(back) <= 3, deep
    assert len(first) <= len(deep)
    assert post_numbers(back_html) == post_numbers(html)
    assert "Newer posts" in deep_html and "Older posts" in deep_html


def test_no_query_counts_every_post(app, client, auth):
    auth.login("reader")
    seed(app, 30)
    queries, _ = index_queries(app, client)
    assert len(queries) == 2  # the signed-in user, then one page of posts with their authors
    assert not any("count(" in q.lower() for q in queries), queries


def plans_of(app, queries):
    with app.app_context(), db.engine.connect() as connection, connection.begin():
        return [query_plan(connection, statement, params) for statement, params in queries]


def test_finding_a_user_at_sign_in_uses_the_identity_index(app, auth):
    auth.login("someone")
    with app.app_context():
        db.session.add_all(
            User(
                nickname=f"u{i}", identities=[Identity(issuer=OPENID2_ISSUER, subject=f"http://op.test/u{i}")]
            )
            for i in range(200)
        )
        db.session.commit()
        with recorded_queries(app) as queries:
            user = find_user(OPENID2_ISSUER, "http://op.test/u150")
        assert user.nickname == "u150"
    [plan] = plans_of(app, queries)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite implements the named unique constraint with an automatic index.
        assert re.search(
            r"SEARCH identity USING INDEX sqlite_autoindex_identity_\d \(issuer=\? AND subject=\?\)", plan
        )
    else:
        assert "Index Scan using uq_identity_issuer_subject on identity" in plan, plan
    assert "SCAN identity" not in plan and "Seq Scan on identity" not in plan


def test_loading_the_signed_in_user_uses_the_session_token_index(app, client, auth):
    auth.login("reader")
    with app.app_context(), recorded_queries(app) as queries:
        client.get("/")
    user_load = [q for q in queries if "session_token =" in q[0]]
    [plan] = plans_of(app, user_load)
    # The cookie's token names a device session (issue 11): its index, then the user by primary key.
    assert "ix_user_session_session_token" in plan, plan


def test_newest_posts_come_from_the_timestamp_index_not_a_sort(app, client, auth):
    auth.login("reader")
    seed(app, 200)
    with app.app_context(), recorded_queries(app) as queries:
        client.get("/")
    [page_query] = [q for q in queries if "ORDER BY post.timestamp DESC" in q[0]]
    [plan] = plans_of(app, [page_query])
    assert "ix_post_timestamp" in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan


def test_older_posts_link_only_when_an_older_page_exists(app, client, auth):
    auth.login("reader")
    per_page = app.config["POSTS_PER_PAGE"]
    seed(app, per_page)  # exactly one full page
    _, only = index_queries(app, client)
    assert len(post_numbers(only)) == per_page
    assert "Older posts" not in only and 'rel="next"' not in only

    seed(app, per_page, prefix="writer")  # now exactly two full pages
    _, first = index_queries(app, client)
    assert "Older posts" in first
    _, second = index_queries(app, client, pager_link(first, "next"))
    assert len(post_numbers(second)) == per_page
    assert "Newer posts" in second
    assert "Older posts" not in second and 'rel="next"' not in second


def test_posts_with_the_same_timestamp_are_ordered_by_id_across_pages(app, client, auth):
    auth.login("reader")
    per_page = app.config["POSTS_PER_PAGE"]
    count = per_page + 5
    with app.app_context():
        author = db.session.scalar(select(User).where(User.nickname == "reader"))
        db.session.execute(
            insert(Post),
            [{"body": f"post number {n}", "user_id": author.id, "timestamp": START} for n in range(count)],
        )
        db.session.commit()
        numbers_by_id = {
            post_id: int(body.rsplit(" ", 1)[1])
            for post_id, body in db.session.execute(select(Post.id, Post.body)).all()
        }
    expected = [numbers_by_id[i] for i in sorted(numbers_by_id, reverse=True)]
    # Both lists: the index walks the timestamp index (ties may come out in id order by luck),
    # the profile filters by author first and sorts, where only the id tie-break fixes the order.
    for path in ("/", "/user/reader"):
        _, first = index_queries(app, client, path)
        _, second = index_queries(app, client, pager_link(first, "next"))
        assert post_numbers(first) == expected[:per_page], path
        assert post_numbers(second) == expected[per_page:], path
        assert not set(post_numbers(first)) & set(post_numbers(second)), path


@pytest.mark.parametrize("path", ["/", "/user/author0"])
def test_keyset_pages_start_at_the_cursor_in_the_index(app, client, auth, path, page_cache_off):
    """Every page query is a range search of a (…, timestamp, id) index: no scan from the top, no sort."""
    auth.login("reader")
    seed(app, 200, authors=2)
    first = client.get(path).get_data(as_text=True)
    older = pager_link(first, "next")
    middle = client.get(older).get_data(as_text=True)
    with app.app_context(), recorded_queries(app) as queries:
        client.get(older)
        client.get(pager_link(middle, "next"))
        client.get(pager_link(client.get(pager_link(middle, "next")).get_data(as_text=True), "prev"))
    page_queries = [q for q in queries if "post.body" in q[0]]
    assert len(page_queries) >= 3
    index = "ix_post_timestamp_id" if path == "/" else "ix_post_user_id_timestamp_id"
    for plan in plans_of(app, page_queries):
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            assert re.search(rf"SEARCH post USING INDEX {index} \(.*timestamp[<>]\?\)", plan), plan
            assert "TEMP B-TREE" not in plan, plan
        else:  # on these small tables PostgreSQL may sort the few rows the range gives: that is fine
            assert re.search(rf"(Index Scan (Backward )?using|Bitmap Index Scan on) {index}", plan), plan
            assert re.search(r'Index Cond: \(.*"timestamp" [<>]= ', plan), plan
            assert "Seq Scan on post" not in plan, plan


@pytest.mark.parametrize("page", ["index", "older index page", "profile", "older profile page"])
@pytest.mark.parametrize("who", ["visitor", "signed in"])
def test_list_pages_run_at_most_three_queries_and_one_fewer_from_the_cache(app, client, auth, who, page):
    """The first view of a page reads its posts (≤ 3 queries with the user); the next is served from
    the shared cache: no posts query, same bytes (app/main/fragments.py)."""
    if who == "signed in":
        auth.login("reader")
    seed(app, 45, authors=2)
    path = "/" if page.endswith("index") else "/user/author0"
    if page.startswith("older"):
        path = pager_link(client.get(path).get_data(as_text=True), "next")
    first, html = index_queries(app, client, path)
    again, cached = index_queries(app, client, path)
    assert len(first) <= 3, first
    assert any("post.body" in q for q in first) and not any("post.body" in q for q in again), again
    assert len(again) == len(first) - 1, again
    # The same list, byte for byte (not the whole page: a signed-in page's CSRF token carries the second).
    assert timeline(cached) == timeline(html) and "post number" in timeline(html)
