"""Queries and growth: a fixed number of queries per index page, 20 posts a page, lookups use indexes."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from app.auth.flow import find_user
from app.extensions import db
from app.models import OPENID2_ISSUER, Identity, Post, User
from tests.support.queries import query_plan, recorded_queries

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
        db.session.commit()


def index_queries(app, client, path="/"):
    """The SQL statements run while serving path to the signed-in client, and the page."""
    with app.app_context():
        engine = db.engine
    with recorded_queries(engine) as queries:
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


def test_posts_are_paginated_twenty_per_page_newest_first(app, client, auth):
    auth.login("reader")
    seed(app, 45)
    _, first = index_queries(app, client)
    assert post_numbers(first) == list(range(44, 24, -1))
    assert 'rel="next"' in first and "Older posts" in first
    assert 'rel="prev"' not in first

    _, second = index_queries(app, client, "/?page=2")
    assert post_numbers(second) == list(range(24, 4, -1))
    assert "Newer posts" in second and "Older posts" in second

    _, last = index_queries(app, client, "/?page=3")
    assert post_numbers(last) == [4, 3, 2, 1, 0]
    assert "Newer posts" in last and "Older posts" not in last


def test_deeper_pages_run_the_same_number_of_queries(app, client, auth):
    auth.login("reader")
    seed(app, 1000)
    first, _ = index_queries(app, client)
    deep, html = index_queries(app, client, "/?page=40")
    assert len(deep) == len(first)
    assert post_numbers(html) == list(range(219, 199, -1))


@pytest.mark.parametrize("page", ["99", "0", "-3", "abc", "99999999999999999999999"])
def test_odd_page_numbers_give_a_normal_page(app, client, auth, page):
    auth.login("reader")
    seed(app, 25)
    _, html = index_queries(app, client, f"/?page={page}")
    if page == "99" or page.startswith("999"):
        assert post_numbers(html) == [] and "There are no posts on this page." in html
        assert 'href="/">Go to the newest posts</a>' in html
    else:  # not a page number: the first page
        assert post_numbers(html) == list(range(24, 4, -1))


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
        with recorded_queries(db.engine) as queries:
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
    with app.app_context(), recorded_queries(db.engine) as queries:
        client.get("/")
    user_load = [q for q in queries if "session_token =" in q[0]]
    [plan] = plans_of(app, user_load)
    # The cookie's token names a device session (issue 11): its index, then the user by primary key.
    assert "ix_user_session_session_token" in plan, plan


def test_newest_posts_come_from_the_timestamp_index_not_a_sort(app, client, auth):
    auth.login("reader")
    seed(app, 200)
    with app.app_context(), recorded_queries(db.engine) as queries:
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
    _, second = index_queries(app, client, "/?page=2")
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
        _, second = index_queries(app, client, f"{path}?page=2")
        assert post_numbers(first) == expected[:per_page], path
        assert post_numbers(second) == expected[per_page:], path
        assert not set(post_numbers(first)) & set(post_numbers(second)), path
