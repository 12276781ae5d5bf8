"""OpenID discovery parsing: same answers as python3-openid on real pages, linear time on crafted ones."""

import multiprocessing
import time
from io import StringIO

import pytest
from openid.consumer.discover import OpenIDServiceEndpoint
from openid.yadis.parsehtml import MetaNotFound, findHTMLMeta

from app.auth.openid2.discovery import discover, is_xri, parse_head, services_from_html
from tests.support.listener import ok

URI = "https://me.example/"
P2 = '<link rel="openid2.provider" href="https://op.example/server?a=1&amp;b=2">'
L2 = "<link rel='openid2.local_id' href='https://op.example/u/me'>"
P1 = '<link rel="openid.server" href="https://op1.example/">'
D1 = '<link rel="openid.delegate" href="https://op1.example/me">'
META = '<meta http-equiv="X-XRDS-Location" content="https://me.example/xrds?x=1&amp;y=2">'

SAME_PAGES = {
    "openid2": f"<html><head>{P2}{L2}</head><body>hi</body></html>",
    "openid1": f"<html><head><title>t</title>{P1}{D1}</head><body></body></html>",
    "both": f"<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>{P1}{D1}\n{P2}{L2}</head></html>",
    "upper-case tags": '<HTML><HEAD><LINK rel=openid2.provider href="https://op.example/"></HEAD></HTML>',
    "several rels": '<html><head><link rel="stylesheet  openid2.provider\topenid.server" '
    'href="https://op.example/"></head></html>',
    "rel case": '<html><head><link rel="OpenID2.Provider" href="https://op.example/"></head></html>',
    "self-closing": '<html><head><link rel="openid2.provider" href="https://op.example/" /></head></html>',
    "unquoted": "<html><head><link rel=openid2.provider href=https://op.example/x></head></html>",
    "first wins": f'<html><head>{P2}<link rel="openid2.provider" href="https://other.example/"></head></html>',
    "links in body ignored": f"<html><head><title>x</title></head><body>{P2}{L2}</body></html>",
    "after head ignored": f"<html><head></head>{P2}</html>",
    "commented out": f"<html><head><!-- {P2} --></head></html>",
    "inside script": f"<html><head><script>var s = '{P2}';</script></head></html>",
    "no head": f"<html><body><p>{P2}</p></body></html>",
    "no links": "<html><head><title>Me</title></head><body>Just me</body></html>",
    "empty": "",
    "plain text": "I am not HTML at all",
    "no href": '<html><head><link rel="openid2.provider"></head></html>',
    "meta only": f"<html><head>{META}</head><body></body></html>",
    "meta upper-case": '<html><head><META HTTP-EQUIV="x-xrds-location" CONTENT="https://m.example/"></head></html>',
    "meta in body": f"<html><head></head><body>{META}</body></html>",
    "bytes utf-8": f"<html><head>{P2}<title>Zoë</title></head></html>".encode(),
    "bytes latin-1": f"<html><head><title>Zo\xeb</title>{P2}</head></html>".encode("latin-1"),
}


def old_services(html):
    return [
        (s.claimed_id, s.server_url, s.local_id, s.type_uris)
        for s in OpenIDServiceEndpoint.fromHTML(URI, html)
    ]


def new_services(html):
    return [(s.claimed_id, s.server_url, s.local_id, s.type_uris) for s in services_from_html(URI, html)]


def old_meta(html):
    text = html.decode("utf-8", "replace") if isinstance(html, bytes) else html
    try:
        return findHTMLMeta(StringIO(text))
    except MetaNotFound:
        return None


@pytest.mark.parametrize("page", SAME_PAGES.values(), ids=SAME_PAGES.keys())
def test_same_links_as_python3_openid(page):
    assert new_services(page) == old_services(page)


@pytest.mark.parametrize("page", SAME_PAGES.values(), ids=SAME_PAGES.keys())
def test_same_xrds_location_as_python3_openid(page):
    assert parse_head(page).xrds_location == old_meta(page)


def test_the_pages_above_do_find_providers():
    assert new_services(SAME_PAGES["both"]) == [
        (
            URI,
            "https://op.example/server?a=1&b=2",
            "https://op.example/u/me",
            ["http://specs.openid.net/auth/2.0/signon"],
        ),
        (URI, "https://op1.example/", "https://op1.example/me", ["http://openid.net/signon/1.1"]),
    ]
    assert parse_head(SAME_PAGES["meta only"]).xrds_location == "https://me.example/xrds?x=1&y=2"


def test_known_differences_follow_html_rather_than_regular_expressions():
    """Where the two differ, the new parser reads the page as a browser's HTML parser would."""
    # An upper-case attribute name: HTML attribute names are case-blind (the old parser missed it).
    page = '<html><head><link REL="openid2.provider" HREF="https://op.example/"></head></html>'
    assert [s.server_url for s in services_from_html(URI, page)] == ["https://op.example/"]
    # A head with no <html> tag: HTML implies the html element (the old parser required the tag).
    assert [s.server_url for s in services_from_html(URI, P2)] == ["https://op.example/server?a=1&b=2"]
    # An unquoted value ending in "/" right before ">": HTML keeps the slash (the old parser dropped it).
    page = "<html><head><link rel=openid2.provider href=https://op.example/></head></html>"
    assert [s.server_url for s in services_from_html(URI, page)] == ["https://op.example/"]
    # Numeric character references are decoded (the old parser decoded only four named ones).
    page = '<html><head><link rel="openid2.provider" href="https://op.example/&#x41;"></head></html>'
    assert [s.server_url for s in services_from_html(URI, page)] == ["https://op.example/A"]


# --- Crafted pages: 1 MiB of each shape that makes a backtracking or rescanning parser slow -------

MIB = 1024 * 1024
PATHOLOGICAL_UNITS = {
    "unclosed comments": "<!--",
    "unclosed CDATA": "<![CDATA[",
    "unclosed scripts": "<script>",
    "unclosed script tags": "<script ",
    "unclosed tags": "<a ",
    "unclosed links": "<link rel=openid2.provider href=",
    "unclosed quoted attributes": "<link rel='",
    "unclosed end tags": "</a",
    "bare angle brackets": "<",
    "declarations": "<!",
    "processing instructions": "<?",
    "nested heads": "<head>",
    "nested html": "<html>",
    "attribute soup": "x=",
    "entity starts": "&#",
    "unclosed metas": "<meta http-equiv=X-XRDS-Location content=",
    "deep nesting": "<div>",
}
# Linear parsing of 1 MiB takes well under a second; the old parsers take from minutes to hours.
GENEROUS_SECONDS = 30


def crafted_page(unit, size=MIB):
    prefix = "<html><head>"
    return prefix + unit * ((size - len(prefix)) // len(unit))


def _parse_in_child(unit, done):
    page = crafted_page(unit)
    services_from_html(URI, page)
    parse_head(page)
    done.set()


@pytest.mark.parametrize("unit", PATHOLOGICAL_UNITS.values(), ids=PATHOLOGICAL_UNITS.keys())
def test_one_mebibyte_crafted_page_parses_in_linear_time(unit):
    """Parsed in a child process, so a super-linear parser fails the test instead of hanging it."""
    context = multiprocessing.get_context("fork")
    done = context.Event()
    child = context.Process(target=_parse_in_child, args=(unit, done), daemon=True)
    started = time.monotonic()
    child.start()
    child.join(GENEROUS_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
    assert done.is_set(), f"not parsed within {GENEROUS_SECONDS} s ({time.monotonic() - started:.0f} s)"


# --- Discovery itself: the crafted page reached over HTTP, XRIs never looked up -------------------


@pytest.fixture
def no_xri_lookup(monkeypatch):
    """Fail the test if python3-openid's XRI proxy resolver is ever asked anything."""
    asked = []
    from openid.yadis import xrires

    monkeypatch.setattr(xrires.ProxyResolver, "query", lambda self, *args: asked.append(args) or (None, []))
    return asked


@pytest.mark.parametrize(
    "identifier", ["=example", "@corp*dept", "xri://=example", " +tag", "$dns*x", "!1234"]
)
def test_xri_identifiers_are_refused_without_a_lookup(identifier, no_xri_lookup, app):
    from openid.consumer.discover import DiscoveryFailure

    assert is_xri(identifier)
    with app.app_context(), pytest.raises(DiscoveryFailure, match="XRI identifiers"):
        discover(identifier)
    assert no_xri_lookup == []


def test_discovery_reads_the_crafted_page_fetched_over_http(app, listener):
    listener.route("/me", ok(crafted_page("<!--").encode(), content_type="text/html"))
    with app.app_context():
        claimed_id, services = discover(listener.url("/me"))
    assert (claimed_id, services) == (listener.url("/me"), [])


def test_discovery_follows_the_yadis_meta_with_the_new_parser(app, listener):
    xrds = (
        '<?xml version="1.0" encoding="UTF-8"?><xrds:XRDS xmlns:xrds="xri://$xrds" '
        'xmlns="xri://$xrd*($v*2.0)"><XRD><Service><Type>http://specs.openid.net/auth/2.0/signon</Type>'
        f"<URI>{listener.url('/op')}</URI></Service></XRD></xrds:XRDS>"
    ).encode()
    page = f'<html><head><meta http-equiv="X-XRDS-Location" content="{listener.url("/xrds")}"></head></html>'
    listener.route("/me", ok(page.encode(), content_type="text/html"))
    listener.route("/xrds", ok(xrds, content_type="application/xrds+xml"))
    with app.app_context():
        claimed_id, services = discover(listener.url("/me"))
    assert claimed_id == listener.url("/me")
    assert [s.server_url for s in services] == [listener.url("/op")]
