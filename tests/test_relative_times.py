"""The `ago` filter: "just now", minutes, hours for the last day, then the date; the exact time stays."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.extensions import db
from app.main.filters import ago
from app.models import Post, User

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "shown"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=59, microseconds=999999), "just now"),
        (timedelta(seconds=60), "1 minute ago"),
        (timedelta(seconds=119), "1 minute ago"),
        (timedelta(seconds=120), "2 minutes ago"),
        (timedelta(minutes=59, seconds=59), "59 minutes ago"),
        (timedelta(hours=1), "1 hour ago"),
        (timedelta(hours=1, minutes=59), "1 hour ago"),
        (timedelta(hours=2), "2 hours ago"),
        (timedelta(hours=23, minutes=59, seconds=59), "23 hours ago"),
        (timedelta(hours=24), "30 Nov"),  # a day old: the date from here on
        (timedelta(days=7), "24 Nov"),  # not "168 hours ago"
        (timedelta(days=400), "27 Oct 2025"),  # not "9600 hours ago"
    ],
)
def test_each_boundary(age, shown):
    assert ago(NOW - age, now=NOW) == shown


def test_the_year_is_left_out_only_for_the_current_year():
    new_year = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    assert ago(datetime(2026, 12, 31, 0, 0, tzinfo=UTC), now=new_year) == "31 Dec 2026"  # a day before
    assert ago(datetime(2026, 12, 31, 23, 59, tzinfo=UTC), now=new_year) == "31 minutes ago"
    assert ago(datetime(2026, 1, 1, tzinfo=UTC), now=NOW) == "1 Jan"
    assert ago(datetime(1999, 5, 9, tzinfo=UTC), now=NOW) == "9 May 1999"


@pytest.mark.parametrize("ahead", [timedelta(seconds=1), timedelta(minutes=5), timedelta(days=3)])
def test_a_time_in_the_future_from_clock_skew_reads_just_now(ahead):
    assert ago(NOW + ahead, now=NOW) == "just now"


def test_naive_times_from_sqlite_are_utc_and_other_zones_are_converted():
    assert ago(datetime(2026, 12, 1, 11, 0), now=NOW) == "1 hour ago"
    plus_two = timezone(timedelta(hours=2))
    assert ago(datetime(2026, 12, 1, 13, 0, tzinfo=plus_two), now=NOW) == "1 hour ago"
    assert ago(datetime(2026, 11, 30, 1, 30, tzinfo=plus_two), now=NOW) == "29 Nov"  # the UTC date


def test_the_current_time_is_the_default():
    assert ago(datetime.now(UTC) - timedelta(minutes=3)) == "3 minutes ago"


def test_an_old_post_shows_its_date_and_keeps_the_exact_time(app, client):
    with app.app_context():
        author = User(nickname="old-timer", session_token="old-token")
        db.session.add(Post(body="from last year", author=author, timestamp=datetime(2025, 3, 14, 15, 9, 26)))
        db.session.commit()
    html = client.get("/").get_data(as_text=True)
    [(attributes, shown)] = re.findall(r"<time ([^>]*)>([^<]*)</time>", html)
    assert shown == "14 Mar 2025"
    assert attributes == 'datetime="2025-03-14T15:09:26+00:00" title="14 March 2025, 15:09 UTC"'
