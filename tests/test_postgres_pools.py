"""PostgreSQL's two pools: page views read through the autocommit one; a restart is survived by both.

A database restart cuts every pooled connection: the next page views and posts still work. The
restart is played by ending the app's server-side backends (what a restart or failover does to the
connections a worker keeps in its pools), on a scratch database of the local PostgreSQL server.
"""

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

from app import create_app
from app.database import dispose_engines, read_engine
from app.extensions import db
from tests.conftest import AuthActions
from tests.support.databases import upgrade_database
from tests.support.scratch_databases import scratch_postgres
from tests.support.web import csrf_token


@pytest.fixture
def postgres_url():
    with scratch_postgres("reconnect") as url:
        if url is None:
            pytest.skip("needs the local PostgreSQL server on 127.0.0.1:5432")
        upgrade_database(url)
        yield url


def cut_every_connection(url):
    """End every server backend of the database but this one, as a restart would."""
    admin = create_engine(url, poolclass=NullPool)
    with admin.connect() as connection:
        ended = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    admin.dispose()
    return ended


def site_with_pooled_connections(url, ping_after):
    """An app on url, a signed-in member, and the pool holding the connections its pages used."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, "DATABASE_PING_AFTER_IDLE": ping_after})
    member = app.test_client()
    AuthActions(app, member).login("steady")
    assert "Hi, steady!" in member.get("/").text
    return app, member


def post(member, body):
    token = csrf_token(member.get("/").text)
    return member.post("/", data={"csrf_token": token, "body": body}, follow_redirects=True)


def dispose(app):
    with app.app_context():
        db.session.remove()
        dispose_engines()


def test_idle_connections_cut_by_a_restart_are_replaced_before_use(postgres_url):
    app, member = site_with_pooled_connections(postgres_url, ping_after=0.0)  # every reuse is checked
    try:
        assert cut_every_connection(postgres_url) >= 1
        assert "Hi, steady!" in member.get("/").text
        assert cut_every_connection(postgres_url) >= 1
        assert "after the restart" in post(member, "after the restart").text
    finally:
        dispose(app)


def test_a_connection_cut_a_moment_after_use_costs_no_page_view(postgres_url):
    app, member = site_with_pooled_connections(postgres_url, ping_after=3600.0)  # never checked
    try:
        assert cut_every_connection(postgres_url) >= 1
        page = member.get("/")  # the one read finds its connection cut, and runs again on a new one
        assert page.status_code == 200 and "Hi, steady!" in page.text
        # The failure made the pool recycle every connection older than it: posting works too.
        assert "straight after" in post(member, "straight after").text
    finally:
        dispose(app)


def checkouts(engine):
    """A list that fills with each connection's autocommit flag as the engine's pool hands it out."""
    handed_out = []
    event.listen(
        engine, "checkout", lambda dbapi_connection, *_: handed_out.append(dbapi_connection.autocommit)
    )
    return handed_out


def test_a_cached_page_view_reads_through_the_autocommit_pool_only(postgres_url):
    app, member = site_with_pooled_connections(postgres_url, ping_after=1.0)
    try:
        with app.app_context():
            main, reads = db.engine, read_engine()
        assert reads is not main
        from_main, from_reads = checkouts(main), checkouts(reads)
        assert "Hi, steady!" in member.get("/").text  # cached: the user load is the one query
        assert from_main == []  # no connection of the main pool switched to autocommit and back
        assert from_reads == [True]
        assert "in a transaction" in post(member, "in a transaction").text  # writes: the main pool
        assert from_main and not any(from_main)
    finally:
        dispose(app)
