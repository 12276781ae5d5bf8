"""Recent OpenID 2.0 discoveries: reused at a sign-in's start for a short while, never failures,
never for the callback's check of the claimed identifier."""

import time

import pytest
from openid.consumer.discover import DiscoveryFailure

from app.auth.openid2 import discovery
from app.auth.openid2.consumer import oid
from app.auth.openid2.discovery import RecentDiscoveries, discover
from tests.support.listener import ok

PROVIDER = "https://op.example/server"
PAGE = f'<html><head><link rel="openid2.provider" href="{PROVIDER}"></head><body></body></html>'.encode()
NO_PROVIDER = b"<html><head><title>no OpenID here</title></head></html>"


def fetches(listener, path):
    return sum(request.path == path for request in listener.requests)


def test_a_recent_discovery_is_reused_with_its_own_copy_of_the_services(app, listener):
    listener.route("/me", ok(PAGE, content_type="text/html"))
    recent = RecentDiscoveries(lifetime=60, max_entries=8)
    with app.app_context():
        claimed_id, services = recent.discover(listener.url("/me"))
        services.pop()  # python3-openid's service manager consumes the list it is given
        again = recent.discover(listener.url("/me") + "#fragment")  # the same normalized URL
        third = recent.discover(listener.url("/me"))
    assert fetches(listener, "/me") == 1
    assert again[0] == third[0] == claimed_id == listener.url("/me")
    assert [service.server_url for service in again[1]] == [PROVIDER]
    assert again[1][0] is not third[1][0]


def test_a_kept_discovery_expires(app, listener, monkeypatch):
    listener.route("/me", ok(PAGE, content_type="text/html"))
    recent = RecentDiscoveries(lifetime=60, max_entries=8)
    with app.app_context():
        recent.discover(listener.url("/me"))
        monkeypatch.setattr("cachelib.simple.time", lambda: time.time() + 61)
        recent.discover(listener.url("/me"))
    assert fetches(listener, "/me") == 2


def test_failures_and_pages_without_a_provider_are_never_kept(app, listener):
    listener.route("/none", ok(NO_PROVIDER, content_type="text/html"))
    recent = RecentDiscoveries(lifetime=60, max_entries=8)
    with app.app_context():
        for _ in range(2):
            with pytest.raises(DiscoveryFailure):
                recent.discover(listener.url("/missing"))  # 404
            assert recent.discover(listener.url("/none"))[1] == []
    assert fetches(listener, "/missing") == 2
    assert fetches(listener, "/none") == 2


def test_a_lifetime_of_zero_discovers_every_time(app, listener):
    listener.route("/me", ok(PAGE, content_type="text/html"))
    recent = RecentDiscoveries(lifetime=0, max_entries=8)
    with app.app_context():
        recent.discover(listener.url("/me"))
        recent.discover(listener.url("/me"))
    assert fetches(listener, "/me") == 2


def test_xri_identifiers_are_refused_before_the_recent_discoveries_are_read(app):
    recent = RecentDiscoveries(lifetime=60, max_entries=8)
    with app.app_context(), pytest.raises(DiscoveryFailure, match="XRI identifiers"):
        recent.discover("=example")


def test_only_the_start_reads_recent_discoveries_the_callback_discovers_afresh(app):
    with app.test_request_context("/login"):
        consumer = oid._consumer()
        assert consumer._discover == oid.recent_discoveries.discover
        assert consumer.consumer._discover is discover


def test_sign_ins_in_a_row_discover_the_identifier_once(app, browser, openid_provider, monkeypatch):
    fetched = []
    fetch = discovery._discover_yadis

    def counted_fetch(uri):
        fetched.append(uri)
        return fetch(uri)

    monkeypatch.setattr(discovery, "_discover_yadis", counted_fetch)
    openid_provider.behaviour.profiles["alice"] = {"nickname": "alice"}
    for _ in range(2):
        callback, _ = browser.capture_callback(openid_provider.identity("alice"))
        assert "Hi, alice!" in browser.get(callback).text
        browser.logout()
    assert fetched == [openid_provider.identity("alice")]
