"""OpenID 2.0 discovery whose HTML parsing grows linearly with the page, and that never resolves XRIs.

python3-openid finds `<link rel="openid2.provider">` with regular expressions (openid.consumer.html_parse)
and the Yadis `<meta http-equiv="X-XRDS-Location">` with the standard library's html.parser; both are
super-linear on crafted pages (seconds for a few kilobytes on CPython 3.11), and both run before any
signature is checked, on a page the claimant chooses. Here one pass of libxml2's HTML parser (lxml)
collects both from the `<head>`, and the Yadis steps around it follow python3-openid's discovery
(openid.yadis.discover, openid.consumer.discover) step for step. XRIs are refused without any lookup.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cachelib import SimpleCache
from lxml import etree
from openid import fetchers
from openid.consumer.discover import (
    OPENID_1_1_TYPE,
    OPENID_2_0_TYPE,
    DiscoveryFailure,
    OpenIDServiceEndpoint,
    getOPOrUserServices,
    normalizeURL,
)
from openid.yadis import xri
from openid.yadis.constants import YADIS_ACCEPT_HEADER, YADIS_CONTENT_TYPE, YADIS_HEADER_NAME
from openid.yadis.etxrd import XRDSError

XRI_REFUSED = "XRI identifiers (such as =name or @name) are not supported; please use a web address."
OK_STATUSES = (200, 206)
# (service type, rel of the provider endpoint, rel of the provider-local identifier), newest first
HTML_DISCOVERY_TYPES = (
    (OPENID_2_0_TYPE, "openid2.provider", "openid2.local_id"),
    (OPENID_1_1_TYPE, "openid.server", "openid.delegate"),
)


@dataclass
class HeadLinks:
    """What discovery needs from an HTML page's head: its <link> attributes and the Yadis location."""

    links: list[dict[str, str]] = field(default_factory=list)
    xrds_location: str | None = None

    def first_href(self, rel: str) -> str | None:
        """The href of the first link whose whitespace-separated rel values include rel (case-blind)."""
        for attrs in self.links:
            if rel in attrs.get("rel", "").lower().split():
                return attrs.get("href")
        return None


if TYPE_CHECKING:
    # types-lxml's protocol for parser targets (it does not exist at run time, where lxml
    # delivers only the events a target has methods for).
    _ParserTarget = etree.ParserTarget["HeadLinks"]
else:
    _ParserTarget = object


class _HeadCollector(_ParserTarget):
    """lxml parser target: records <link> and X-XRDS-Location <meta> elements inside the first <head>."""

    def __init__(self) -> None:
        self.found = HeadLinks()
        self.in_html = self.in_head = self.done = False

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        """Follow the html > head nesting and record the elements discovery reads."""
        if self.done:
            return
        tag = tag.lower()
        if tag == "html":
            self.in_html = True
        elif tag == "head" and self.in_html:
            self.in_head = True
        elif tag == "body" and self.in_html:
            self.done = True
        elif tag == "link" and self.in_head:
            self.found.links.append(dict(attrib))
        elif tag == "meta" and self.in_head:
            self._meta(attrib)

    def _meta(self, attrib: dict[str, str]) -> None:
        if self.found.xrds_location is None and (
            attrib.get("http-equiv", "").strip().lower() == YADIS_HEADER_NAME.lower()
        ):
            self.found.xrds_location = attrib.get("content")

    def end(self, tag: str) -> None:
        """Stop recording once the head (or the whole document) is closed."""
        if tag.lower() in ("head", "html") and self.in_head:
            self.done = True

    def data(self, text: str) -> None:
        """Text is of no interest."""

    def comment(self, text: str) -> None:
        """Comments are of no interest."""

    def close(self) -> HeadLinks:
        """Return what was collected."""
        return self.found


def _as_text(html: str | bytes) -> str:
    """Decode bytes as python3-openid's link parser does: UTF-8, else Latin-1."""
    if isinstance(html, str):
        return html
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        return html.decode("latin-1")


def parse_head(html: str | bytes) -> HeadLinks:
    """Collect the <link> elements and the X-XRDS-Location <meta> of the page's <head>, in linear time."""
    text = _as_text(html)
    if not text.strip():
        return HeadLinks()
    parser = etree.HTMLParser(target=_HeadCollector(), no_network=True, recover=True)
    try:
        return etree.fromstring(text, parser)
    except (etree.LxmlError, ValueError):
        return HeadLinks()


def services_from_html(uri: str, html: str | bytes) -> list[OpenIDServiceEndpoint]:
    """The OpenID 2 and 1.1 endpoints a page's <head> links name (python3-openid's fromHTML)."""
    head = parse_head(html)
    services = []
    for type_uri, provider_rel, local_id_rel in HTML_DISCOVERY_TYPES:
        provider_url = head.first_href(provider_rel)
        if provider_url is None:
            continue
        service = OpenIDServiceEndpoint()
        service.claimed_id = uri
        service.local_id = head.first_href(local_id_rel)
        service.server_url = provider_url
        service.type_uris = [type_uri]
        services.append(service)
    return services


def is_xri(identifier: str) -> bool:
    """True for XRI identifiers (xri://..., =name, @name, +, $, !, ( ...), which are never resolved."""
    return xri.identifierScheme(identifier.strip()) == "XRI"


def identifier_url(identifier: str) -> str:
    """The normalized http(s) URL discovery fetches for an identifier; XRIs and other schemes refused."""
    if is_xri(identifier):
        raise DiscoveryFailure(XRI_REFUSED, None)
    parts = urlsplit(identifier)
    if parts.scheme and parts.netloc:
        if parts.scheme not in ("http", "https"):
            raise DiscoveryFailure("URI scheme is not HTTP or HTTPS", None)
    else:
        identifier = "http://" + identifier
    return str(normalizeURL(identifier))


def discover(identifier: str) -> tuple[str, list[OpenIDServiceEndpoint]]:
    """Drop-in for python3-openid's discover(): (claimed id, services); XRIs refused without a lookup."""
    claimed_id, services = _discover_yadis(identifier_url(identifier))
    return normalizeURL(claimed_id), services


class RecentDiscoveries:
    """Successful discoveries of sign-in starts, reused for a short while (per process, bounded).

    Only the start of a sign-in reads it: the callback's check that the provider may speak for
    the claimed identifier always discovers afresh (the hardened GenericConsumer uses `discover`).
    Discovery results are public, so one visitor's start may reuse another's. Failures and
    discoveries that found no service are never kept; each use gets its own copy of the services
    (python3-openid's service manager consumes the list it is given).
    """

    def __init__(self, lifetime: int, max_entries: int) -> None:
        self.lifetime = lifetime
        self.entries = SimpleCache(threshold=max_entries, default_timeout=lifetime)

    def discover(self, identifier: str) -> tuple[str, list[OpenIDServiceEndpoint]]:
        """discover(), answered from a recent success for the same normalized URL when there is one."""
        uri = identifier_url(identifier)
        if self.lifetime <= 0:
            return discover(uri)
        found: tuple[str, list[OpenIDServiceEndpoint]] | None = self.entries.get(uri)
        if found is None:
            found = discover(uri)
            if found[1]:
                self.entries.set(uri, found)  # stored pickled: every get returns fresh copies
        return found


def _fetch_ok(url: str, headers: dict[str, str] | None, what: str) -> fetchers.HTTPResponse:
    response = fetchers.fetch(url, headers=headers)
    if response.status not in OK_STATUSES:
        raise DiscoveryFailure(
            f"HTTP Response status from {what} is not 200. Got status {response.status!r}", response
        )
    return response


def _content_type(response: fetchers.HTTPResponse) -> str:
    return response.headers.get("content-type") or ""


def _yadis_location(response: fetchers.HTTPResponse) -> str | None:
    """Where the XRDS document is: this response, the X-XRDS-Location header, or the <meta> in its head."""
    if _content_type(response).split(";", 1)[0].strip().lower() == YADIS_CONTENT_TYPE:
        return response.final_url
    return response.headers.get(YADIS_HEADER_NAME.lower()) or parse_head(response.body).xrds_location


def _discover_yadis(uri: str) -> tuple[str, list[OpenIDServiceEndpoint]]:
    """Yadis discovery, falling back on <link rel> discovery in the same page (python3-openid's order)."""
    response = _fetch_ok(uri, {"Accept": YADIS_ACCEPT_HEADER}, "identity URL host")
    claimed_id = response.final_url
    location = _yadis_location(response)
    used_location = location is not None and location != "" and location != claimed_id
    if location and used_location:
        response = _fetch_ok(location, None, "Yadis host")
    services = _services_from_xrds(claimed_id, response.body)
    if not services:
        if used_location or _content_type(response) == YADIS_CONTENT_TYPE:
            return _discover_html(uri)
        services = services_from_html(claimed_id, response.body)
    return claimed_id, getOPOrUserServices(services)


def _services_from_xrds(claimed_id: str, body: str | bytes) -> list[OpenIDServiceEndpoint]:
    try:
        return OpenIDServiceEndpoint.fromXRDS(claimed_id, body)
    except XRDSError:
        return []


def _discover_html(uri: str) -> tuple[str, list[OpenIDServiceEndpoint]]:
    """Fetch the page again without the Yadis Accept header and read its <link rel> elements."""
    response = _fetch_ok(uri, None, "identity URL host")
    return response.final_url, services_from_html(response.final_url, response.body)
