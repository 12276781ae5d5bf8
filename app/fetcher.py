"""SSRF-safe outbound HTTP for OpenID discovery/verification and OIDC calls: checked, pinned, capped."""

# Why this is hand-written rather than a library:
# * advocate 1.0.0 (2020, unmaintained) declares urllib3<2 and pulls in netifaces/pyOpenSSL, so it cannot
#   be installed next to our urllib3 2.8 without breaking the resolver.
# * requests-hardened 1.3.0 works with urllib3 2.x and pins the checked IP, but it covers only `requests`
#   (not python3-openid's fetcher), has no port policy, no body cap and no wall-clock deadline, and checks
#   `is_private` rather than `not is_global`.
# So: one URL/address check (check_url), one pinned, capped HTTP exchange (_send_once) and one redirect
# engine (requests' own, in a session whose every hop goes through SafeRequestsAdapter). python3-openid's
# fetcher is built on that same session, so Authlib and python3-openid share every check.

import contextlib
import contextvars
import functools
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urldefrag, urlsplit

import certifi
import idna
import requests
import urllib3.exceptions
from flask import current_app, has_app_context
from openid import fetchers as openid_fetchers
from requests.adapters import HTTPAdapter
from requests.utils import requote_uri
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import BaseHTTPResponse

if TYPE_CHECKING:
    from _typeshed import SupportsRead

    # What a requests.PreparedRequest may carry as its body.
    RequestBody = bytes | str | Iterable[bytes | str] | SupportsRead[bytes | str] | None

DEFAULT_PORTS = {"http": 80, "https": 443}
PUBLIC_PORTS = frozenset({80, 443})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_SIZE = 64 * 1024

# Ranges that CPython 3.11's is_global lets through but that can reach internal or arbitrary IPv4 hosts.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "192.0.0.0/24",  # IETF protocol assignments (is_global wrongly True for most of it in 3.11)
        "192.88.99.0/24",  # 6to4 relay anycast
        "2002::/16",  # 6to4: embeds any IPv4 address
        "2001::/32",  # Teredo: embeds any IPv4 address
        "64:ff9b::/96",  # NAT64 well-known prefix
        "64:ff9b:1::/48",  # NAT64 local-use prefix
        "fec0::/10",  # deprecated site-local (is_global wrongly True in 3.11)
    )
)

_CHAIN_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("chain_deadline", default=None)
# One budget shared by every outbound request of a step (a sign-in start or callback), see outbound_budget.
_STEP_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("step_deadline", default=None)


class FetchRefused(Exception):  # noqa: N818 - the name callers were promised
    """An outbound fetch was refused or failed; str(exc) is a plain message that is safe to show."""


class URLRefused(FetchRefused):
    """The URL is malformed, has no host or carries credentials."""


class SchemeRefused(URLRefused):
    """The URL scheme is not http or https."""


class PortRefused(URLRefused):
    """The port is not 80 or 443 (and private hosts are not allowed)."""


class AddressRefused(FetchRefused):
    """The host resolves to a loopback, private, link-local, multicast or reserved address."""


class RedirectLimitExceeded(FetchRefused):
    """The server redirected more than max_redirects times."""


class ResponseTooLarge(FetchRefused):
    """The response body is larger than max_bytes."""


class FetchTimeout(FetchRefused):
    """The whole fetch (connect, send, read, redirects) took longer than the policy timeout."""


class FetchFailed(FetchRefused):
    """Name resolution, connection, TLS or HTTP protocol failure."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for outbound fetches; ca_certs overrides the CA bundle (default: certifi)."""

    allow_private: bool = False
    timeout: float = 5.0
    max_bytes: int = 1024 * 1024
    max_redirects: int = 5
    ca_certs: str | None = None


def policy_from_config(config: Mapping[str, Any]) -> FetchPolicy:
    """Build the policy from app config (OPENID_ALLOW_PRIVATE_HOSTS, OUTBOUND_TIMEOUT)."""
    return FetchPolicy(
        allow_private=bool(config.get("OPENID_ALLOW_PRIVATE_HOSTS", False)),
        timeout=float(config.get("OUTBOUND_TIMEOUT", 5.0)),
    )


# --- Address and URL checks (shared by both adapters) ---------------------------------------------


def is_public_address(address: str) -> bool:
    """True when address (IPv4 or IPv6 text, optional %zone) is globally routable unicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _BLOCKED_NETWORKS):
        return False
    special = (
        ip.is_private,
        ip.is_loopback,
        ip.is_link_local,
        ip.is_multicast,
        ip.is_reserved,
        ip.is_unspecified,
    )
    return ip.is_global and not any(special)


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (ip, port) and what to send (Host header, path, TLS name)."""

    url: str
    scheme: str
    hostname: str
    port: int
    ip: str
    host_header: str
    path: str


def check_url(url: str, policy: FetchPolicy) -> Target:
    """Validate url against policy, resolve its host once and return the target pinned to that IP."""
    url = urldefrag(url)[0]
    parts = _split_url(url)
    port = _checked_port(parts, policy)
    assert parts.hostname is not None  # _split_url refused a URL without one
    hostname = _ascii_hostname(parts.hostname)
    return Target(
        url=url,
        scheme=parts.scheme,
        hostname=hostname,
        port=port,
        ip=_resolve(hostname, port, policy),
        host_header=_host_header(hostname, port, parts.scheme),
        path=_request_path(parts),
    )


def _split_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise URLRefused(f"Malformed URL: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise SchemeRefused(f"Only http and https URLs can be fetched, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise URLRefused("The URL has no host name")
    if parts.username is not None:
        raise URLRefused("URLs with a user name or password are not fetched")
    return parts


def _checked_port(parts: SplitResult, policy: FetchPolicy) -> int:
    try:
        port = parts.port
    except ValueError as exc:
        raise URLRefused(f"Malformed URL: {exc}") from None
    port = DEFAULT_PORTS[parts.scheme] if port is None else port
    if not 0 < port < 65536:
        raise URLRefused(f"Invalid port {port}")
    if not policy.allow_private and port not in PUBLIC_PORTS:
        raise PortRefused(f"Port {port} is not allowed; only ports 80 and 443 are")
    return port


def _ascii_hostname(hostname: str) -> str:
    if hostname.isascii():
        return hostname
    try:
        return idna.encode(hostname, uts46=True).decode("ascii")
    except UnicodeError as exc:
        raise URLRefused(f"Invalid host name: {exc}") from None


def _resolve(hostname: str, port: int, policy: FetchPolicy) -> str:
    """Resolve once; refuse if any address is not public (unless allowed); return the first address."""
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise FetchFailed(f"Could not resolve the host name {hostname}") from exc
    addresses = [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not addresses:
        raise FetchFailed(f"Could not resolve the host name {hostname}")
    if not policy.allow_private and not all(is_public_address(address) for address in addresses):
        raise AddressRefused(f"Refusing to fetch from {hostname}: it is not a public internet address")
    return addresses[0]


def _host_header(hostname: str, port: int, scheme: str) -> str:
    host = f"[{hostname}]" if ":" in hostname else hostname
    return host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"


def _request_path(parts: SplitResult) -> str:
    path = parts.path or "/"
    return requote_uri(f"{path}?{parts.query}" if parts.query else path)


# --- One pinned, time- and size-capped HTTP exchange ----------------------------------------------


class _Deadline:
    """Wall-clock budget for a fetch: remaining() raises once spent, and a timer then shuts the socket."""

    def __init__(self, seconds: float) -> None:
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.expires - time.monotonic()
        if self.expired or left <= 0:
            raise FetchTimeout("The remote server took too long to answer")
        return left

    def watch(self, sock: socket.socket) -> None:
        """Watch a dup of sock, so shutting it down also works after the original is TLS-wrapped."""
        with self._lock:
            self._close_watched()
            self._socket = sock.dup()
            if self.expired:
                _shutdown(self._socket)

    def release(self) -> None:
        with self._lock:
            self._close_watched()

    def cancel(self) -> None:
        self._timer.cancel()
        self.release()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._socket is not None:
                _shutdown(self._socket)

    def _close_watched(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


if TYPE_CHECKING:
    _ConnectionBase = HTTPConnection  # what the mixin is mixed into, for the type checker
else:
    _ConnectionBase = object


class _WatchedConnectionMixin(_ConnectionBase):
    """Hands each new TCP socket to the fetch's deadline before any TLS handshake or request."""

    deadline: _Deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


class _PinnedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


@functools.lru_cache(maxsize=8)
def _tls_context(ca_certs: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_certs or certifi.where())


def _open_connection(
    target: Target, deadline: _Deadline, ca_certs: str | None
) -> "_PinnedHTTPConnection | _PinnedHTTPSConnection":
    """A connection to the checked IP; for https, SNI and certificate checks use the host name."""
    timeout = deadline.remaining()
    if target.scheme == "https":
        conn: _PinnedHTTPConnection | _PinnedHTTPSConnection = _PinnedHTTPSConnection(
            target.ip,
            target.port,
            timeout=timeout,
            server_hostname=target.hostname,
            ssl_context=_tls_context(ca_certs),
        )
    else:
        conn = _PinnedHTTPConnection(target.ip, target.port, timeout=timeout)
    conn.deadline = deadline
    return conn


def _send_once(
    target: Target,
    method: str,
    body: "RequestBody",
    headers: Mapping[str, str | bytes] | None,
    deadline: _Deadline,
    max_bytes: int,
    ca_certs: str | None,
) -> tuple[BaseHTTPResponse, bytes]:
    """Send one request to target and return (urllib3 response, body bytes read up to max_bytes)."""
    conn = _open_connection(target, deadline, ca_certs)
    try:
        # urllib3 annotates str header values and IO bodies; it sends requests' bytes values and any
        # readable body as they are.
        conn.request(
            method,
            target.path,
            body=body,  # type: ignore[arg-type]
            headers=_hop_headers(headers, target),  # type: ignore[arg-type]
            preload_content=False,
        )
        response = conn.getresponse()
        content = _read_capped(response, max_bytes)
    except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
        raise _transport_error(exc, target, deadline) from exc
    finally:
        conn.close()
        deadline.release()
    if deadline.expired:  # the watchdog may have cut a connection-delimited body short
        raise FetchTimeout("The remote server took too long to answer")
    return response, content


def _hop_headers(headers: Mapping[str, str | bytes] | None, target: Target) -> dict[str, str | bytes]:
    merged = {name: value for name, value in (headers or {}).items() if name.lower() != "host"}
    merged["Host"] = target.host_header
    return merged


def _read_capped(response: BaseHTTPResponse, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"The response is larger than {max_bytes} bytes")
    content = bytearray()
    for chunk in response.stream(CHUNK_SIZE, decode_content=True):
        content += chunk
        if len(content) > max_bytes:
            raise ResponseTooLarge(f"The response is larger than {max_bytes} bytes")
    return bytes(content)


def _transport_error(exc: Exception, target: Target, deadline: _Deadline) -> FetchRefused:
    if isinstance(exc, urllib3.exceptions.NewConnectionError) and not deadline.expired:
        # urllib3 files a refused or unroutable connect under TimeoutError; it did not time out.
        return FetchFailed(f"Could not connect to {target.url}: {exc.__cause__ or exc}")
    if deadline.expired or isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError):
        return FetchTimeout("The remote server took too long to answer")
    return FetchFailed(f"Could not fetch {target.url}: {exc}")


# --- Whole fetch through the safe session (used by the OpenID adapter) -----------------------------


@dataclass(frozen=True)
class FetchResult:
    """The final response of a fetch: URL after redirects, status, lower-cased headers, body bytes."""

    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchResult:
    """Fetch url under policy through a safe session: the one redirect engine, every hop re-checked."""
    with make_safe_session(policy) as session:
        try:
            response = session.request(method, url, data=body, headers=headers or {})
        except FetchRefused:
            raise
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise URLRefused(f"Malformed URL: {exc}") from exc
        except requests.RequestException as exc:
            raise FetchFailed(f"Could not fetch {urldefrag(url)[0]}: {exc}") from exc
    headers_out = {name.lower(): value for name, value in response.headers.items()}
    return FetchResult(urldefrag(response.url)[0], response.status_code, headers_out, response.content)


# --- Adapter 1: python3-openid --------------------------------------------------------------------


class SafeOpenIDFetcher(openid_fetchers.HTTPFetcher):
    """python3-openid fetcher: discovery and direct requests go through fetch() under a policy."""

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self._policy = policy

    @property
    def policy(self) -> FetchPolicy:
        """The fixed policy, else the current app's (the fetcher is process-wide), else the strict default."""
        if self._policy is not None:
            return self._policy
        if has_app_context():
            return policy_from_config(current_app.config)
        return FetchPolicy()

    def fetch(
        self, url: str, body: str | bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> openid_fetchers.HTTPResponse:
        """GET url, or POST body (check_authentication, associate); returns an openid HTTPResponse."""
        headers = dict(headers or {})
        headers.setdefault("User-Agent", openid_fetchers.USER_AGENT)
        method = "GET"
        if body is not None:
            method = "POST"
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            body = body.encode("utf-8") if isinstance(body, str) else body
        result = fetch(url, self.policy, method=method, body=body, headers=headers)
        return openid_fetchers.HTTPResponse(
            result.final_url, result.status, result.headers, _text_body(result)
        )


def _text_body(result: FetchResult) -> str | bytes:
    """Decode like python3-openid's Urllib2Fetcher: declared charset, else latin-1; bytes if that fails."""
    charset = _charset(result.headers.get("content-type", "")) or "latin1"
    try:
        return result.body.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return result.body


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"')
    return None


def install_openid_fetcher(policy: FetchPolicy | None = None) -> SafeOpenIDFetcher:
    """Make python3-openid use SafeOpenIDFetcher for every fetch in this process.

    It is installed wrapped (python3-openid's ExceptionWrappingFetcher), so a FetchRefused reaches
    python3-openid as HTTPFetchingError(why=FetchRefused): Consumer.begin() turns that into
    DiscoveryFailure, check_authentication into a failed verification, associate into stateless mode.
    With no policy, each fetch uses the policy of the app handling the request.
    """
    fetcher = SafeOpenIDFetcher(policy)
    openid_fetchers.setDefaultFetcher(fetcher, wrap_exceptions=True)
    return fetcher


# --- Adapter 2: requests (Authlib's OAuth2Session is a requests.Session) ---------------------------


class SafeRequestsAdapter(HTTPAdapter):
    """requests transport adapter: every request, so every redirect hop, is checked, pinned and capped.

    Proxies and client certificates are ignored (a proxy would defeat the address check), and so is
    verify=False; a verify path is used as the CA bundle. Each request gets the policy timeout, capped by
    a numeric `timeout` argument and, in a safe session, by the deadline of the whole redirect chain.
    """

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        super().__init__(max_retries=0)
        self.policy = policy or FetchPolicy()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        deadline = _Deadline(self._budget(timeout))
        try:
            deadline.remaining()
            assert request.url is not None and request.method is not None  # set by prepare()
            target = check_url(request.url, self.policy)
            ca_certs = verify if isinstance(verify, str) else self.policy.ca_certs
            raw, content = _send_once(
                target,
                request.method,
                request.body,
                request.headers,
                deadline,
                self.policy.max_bytes,
                ca_certs,
            )
        finally:
            deadline.cancel()
        response = self.build_response(request, raw)
        response._content = content
        response._content_consumed = True
        return response

    def _budget(self, timeout: object) -> float:
        budget = self.policy.timeout
        for deadline in (_CHAIN_DEADLINE.get(), _STEP_DEADLINE.get()):
            if deadline is not None:
                budget = min(budget, deadline - time.monotonic())
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            budget = min(budget, timeout)
        return budget


if TYPE_CHECKING:
    _SessionBase = requests.Session  # what the mixin is mixed into, for the type checker
else:
    _SessionBase = object


class _SafeSessionMixin(_SessionBase):
    """Mounts SafeRequestsAdapter and gives each send() one deadline for its whole redirect chain."""

    fetch_policy: FetchPolicy = FetchPolicy()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mount_safe_adapter(self, self.fetch_policy)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if _CHAIN_DEADLINE.get() is not None:  # a redirect hop inside an outer send()
            return super().send(request, **kwargs)
        token = _CHAIN_DEADLINE.set(_chain_deadline(self.fetch_policy.timeout))
        try:
            return super().send(request, **kwargs)
        except requests.TooManyRedirects as exc:
            raise RedirectLimitExceeded(
                f"Too many redirects (more than {self.fetch_policy.max_redirects})"
            ) from exc
        finally:
            _CHAIN_DEADLINE.reset(token)


def _chain_deadline(timeout: float) -> float:
    """When a request's redirect chain must end: its own timeout, capped by the step's budget."""
    deadline = time.monotonic() + timeout
    step_deadline = _STEP_DEADLINE.get()
    if step_deadline is not None:
        if step_deadline <= time.monotonic():
            raise FetchTimeout("The sign-in step ran out of time waiting for the remote server")
        deadline = min(deadline, step_deadline)
    return deadline


@contextlib.contextmanager
def outbound_budget(seconds: float) -> Iterator[None]:
    """Give all outbound requests made inside the block one shared deadline, `seconds` from now."""
    token = _STEP_DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _STEP_DEADLINE.reset(token)


def mount_safe_adapter(session: requests.Session, policy: FetchPolicy) -> requests.Session:
    """Route every request of session through SafeRequestsAdapter(policy), refusing non-http schemes too."""
    adapter = SafeRequestsAdapter(policy)
    for prefix in ("http://", "https://", ""):
        session.mount(prefix, adapter)
    session.max_redirects = policy.max_redirects
    session.trust_env = False  # no proxies or .netrc credentials from the environment
    return session


def safe_session_class(base: type[requests.Session], policy: FetchPolicy) -> type[requests.Session]:
    """A subclass of base (e.g. Authlib's OAuth2Session) whose instances use the safe adapter."""
    return type(f"Safe{base.__name__}", (_SafeSessionMixin, base), {"fetch_policy": policy})


def make_safe_session(policy: FetchPolicy | None = None) -> requests.Session:
    """A requests.Session whose every request goes through the safe adapter."""
    return safe_session_class(requests.Session, policy or FetchPolicy())()
