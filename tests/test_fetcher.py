"""Tests for app.fetcher: refused targets never get a connection; redirects, size and time are capped."""

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from types import SimpleNamespace

import openid.fetchers
import pytest
import requests
import urllib3.util.connection
from authlib.integrations.requests_client import OAuth2Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from openid.consumer.consumer import Consumer
from openid.consumer.discover import DiscoveryFailure, discover

from app import fetcher
from app.fetcher import (
    AddressRefused,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    FetchTimeout,
    PortRefused,
    RedirectLimitExceeded,
    ResponseTooLarge,
    SafeOpenIDFetcher,
    SchemeRefused,
    URLRefused,
    check_url,
    install_openid_fetcher,
    is_public_address,
    make_safe_session,
    safe_session_class,
)
from tests.support.listener import Listener, hang, ok, read_request  # noqa: E402,F401

PRIVATE_OK = FetchPolicy(allow_private=True)
STRICT = FetchPolicy()


# --- A loopback HTTP listener that records every accepted connection ------------------------------


def redirect(location, status=302):
    def handler(conn, request, listener):
        head = f"HTTP/1.1 {status} X\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n"
        conn.sendall(head.encode() + b"\r\n")

    return handler


def endless(declared_length=None, limit=8 * 1024 * 1024):
    """A body of up to `limit` zero bytes, with an optional (possibly larger) Content-Length."""

    def handler(conn, request, listener):
        head = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
        if declared_length is not None:
            head += f"Content-Length: {declared_length}\r\n"
        conn.sendall(head.encode() + b"\r\n")
        chunk = b"\0" * 65536
        for _ in range(limit // len(chunk)):
            conn.sendall(chunk)

    return handler


def drip(head, tail, interval=0.05, duration=3.0):
    """A valid response with a middle sent one byte per interval: no single read ever waits long."""

    def handler(conn, request, listener):
        conn.sendall(head)
        end = time.monotonic() + duration
        while time.monotonic() < end and not listener.stopping.is_set():
            conn.sendall(b"a")
            time.sleep(interval)
        conn.sendall(tail)

    return handler


def headers_then_hang(conn, request, listener):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n")
    listener.stopping.wait(5)


def delayed(seconds, handler):
    def slow(conn, request, listener):
        time.sleep(seconds)
        handler(conn, request, listener)

    return slow


def redirect_chain(listener, hops, delay=0.0):
    """/hop{hops} -> ... -> /hop1 -> /final (200 "done"); returns the first URL."""
    listener.route("/final", ok(b"done"))
    for n in range(1, hops + 1):
        target = listener.url("/final" if n == 1 else f"/hop{n - 1}")
        listener.route(f"/hop{n}", delayed(delay, redirect(target)))
    return listener.url(f"/hop{hops}")


@pytest.fixture
def other_listener(listener):
    """A listener on 127.0.0.2, same port as `listener`: where a rebinding or a bad redirect would land."""
    server = Listener("127.0.0.2", listener.port)
    yield server
    server.close()


@pytest.fixture
def unaccepting_port():
    """A loopback port whose accept queue is full, so that a new connect() never completes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    probe = socket.socket()
    probe.settimeout(0.2)
    try:
        probe.connect(("127.0.0.1", port))
        hangs = False
    except TimeoutError:
        hangs = True
    except OSError:
        hangs = False
    finally:
        probe.close()
    if not hangs:
        pytest.skip("this kernel does not leave a connect to a full accept queue hanging")
    yield port
    filler.close()
    server.close()


@pytest.fixture
def listener_v6():
    try:
        server = Listener("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    yield server
    server.close()


# --- Guards and hooks -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def connect_log(monkeypatch):
    """Every connection urllib3 opens; all but loopback IP literals are blocked, whatever the code does."""
    attempts = []
    real = urllib3.util.connection.create_connection

    def create_connection(address, *args, **kwargs):
        attempts.append(address)
        if not is_loopback_ip(address[0]):
            raise ConnectionRefusedError(f"test guard: blocked connection to {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return attempts


def is_loopback_ip(host):
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


@pytest.fixture
def fake_dns(monkeypatch):
    """Answer chosen names from a table (a list is served in turn, its last entry repeating)."""
    table, lookups = {}, []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in table:
            return real(host, port, family, type, proto, flags)
        lookups.append(host)
        answers = table[host]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [address_info(ip, port) for ip in (answer if isinstance(answer, tuple) else (answer,))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return SimpleNamespace(table=table, lookups=lookups)


def address_info(ip, port):
    if ":" in ip:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))


@pytest.fixture
def trust(monkeypatch):
    """Let a strict policy treat given loopback addresses and ports as public, to reach a listener."""

    def trust_(addresses=(), ports=()):
        real = fetcher.is_public_address
        monkeypatch.setattr(
            fetcher, "is_public_address", lambda address: address in addresses or real(address)
        )
        monkeypatch.setattr(fetcher, "PUBLIC_PORTS", fetcher.PUBLIC_PORTS | frozenset(ports))

    return trust_


@pytest.fixture
def restore_openid_fetcher():
    saved = openid.fetchers._default_fetcher
    yield
    openid.fetchers.setDefaultFetcher(saved, wrap_exceptions=False)


def openid_get(url, policy):
    response = SafeOpenIDFetcher(policy).fetch(url)
    return SimpleNamespace(status=response.status, text=response.body, url=response.final_url)


def requests_get(url, policy):
    with make_safe_session(policy) as session:
        response = session.get(url)
    return SimpleNamespace(status=response.status_code, text=response.text, url=response.url)


@pytest.fixture(params=[openid_get, requests_get], ids=["openid", "requests"])
def get(request):
    """Fetch through each adapter in turn."""
    return request.param


# --- Address checks -------------------------------------------------------------------------------

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.0.1",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "198.18.0.1",
    "203.0.113.5",
    "::1",
    "::",
    "fe80::1",
    "fe80::1%1",
    "fc00::1",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "2002:7f00:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "64:ff9b::a00:1",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_public(address):
    assert is_public_address(address)


# --- Refusals happen before any connection --------------------------------------------------------

LOOPBACK_SPELLINGS = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f.1:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://127.1:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
]


@pytest.mark.parametrize("template", LOOPBACK_SPELLINGS)
def test_loopback_spellings_are_refused_without_connecting(get, listener, trust, connect_log, template):
    trust(ports=[listener.port])  # only the address check stands in the way
    with pytest.raises(AddressRefused):
        get(template.format(port=listener.port), STRICT)
    assert connect_log == []
    assert listener.accepted == []


@pytest.mark.parametrize("template", LOOPBACK_SPELLINGS)
def test_loopback_spellings_do_reach_the_listener_when_private_is_allowed(listener, template):
    listener.route("/", ok(b"reached"))
    assert openid_get(template.format(port=listener.port), PRIVATE_OK).text == "reached"
    assert len(listener.accepted) == 1


def test_ipv6_loopback_is_refused_without_connecting(get, listener_v6, trust):
    trust(ports=[listener_v6.port])
    with pytest.raises(AddressRefused):
        get(listener_v6.url(), STRICT)
    assert listener_v6.accepted == []
    assert get(listener_v6.url(), PRIVATE_OK).status == 404  # reachable once private hosts are allowed
    assert len(listener_v6.accepted) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://192.168.1.1/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
    ],
)
def test_private_addresses_are_refused_without_a_network_attempt(get, connect_log, url):
    started = time.monotonic()
    with pytest.raises(AddressRefused):
        get(url, STRICT)
    assert connect_log == []
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "file:///etc/passwd", "javascript:alert(1)", "gopher://x/", "HTTPX://x/"]
)
def test_other_schemes_are_refused(get, fake_dns, connect_log, url):
    fake_dns.table["x"] = ["127.0.0.1"]
    with pytest.raises(SchemeRefused):
        get(url, PRIVATE_OK)
    assert connect_log == []
    assert fake_dns.lookups == []


def test_scheme_relative_url_is_refused():
    with pytest.raises(SchemeRefused):
        check_url("//example.test/", PRIVATE_OK)


def test_urls_with_credentials_are_refused(get, fake_dns, connect_log):
    fake_dns.table["example.test"] = ["127.0.0.1"]
    with pytest.raises(URLRefused):
        get("http://user:pw@example.test/", PRIVATE_OK)
    assert connect_log == []


@pytest.mark.parametrize(
    "url", ["http:///nohost", "http://example.test:99999/", "http://example.test:0/", "http://[::1/"]
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(URLRefused):
        check_url(url, PRIVATE_OK)


def test_port_is_checked_before_resolving_or_connecting(get, fake_dns, connect_log):
    fake_dns.table["example.test"] = ["93.184.216.34"]
    assert check_url("http://example.test/", STRICT).ip == "93.184.216.34"  # port 80: allowed
    fake_dns.lookups.clear()
    with pytest.raises(PortRefused):
        get("http://example.test:8080/", STRICT)
    assert fake_dns.lookups == []
    assert connect_log == []


def test_any_non_public_answer_refuses_the_name(fake_dns):
    fake_dns.table["mixed.test"] = [("93.184.216.34", "2606:4700::1111")]
    assert check_url("http://mixed.test/", STRICT).ip == "93.184.216.34"
    fake_dns.table["mixed.test"] = [("93.184.216.34", "10.0.0.1")]
    with pytest.raises(AddressRefused):
        check_url("http://mixed.test/", STRICT)


# --- Working fetches, redirects, DNS rebinding ----------------------------------------------------


def test_fetch_works_and_sends_the_host_name(get, listener, fake_dns):
    fake_dns.table["site.test"] = ["127.0.0.1"]
    listener.route("/page", ok(b"hello there"))
    response = get(listener.url("/page?q=1", host="site.test"), PRIVATE_OK)
    assert (response.status, response.text) == (200, "hello there")
    assert listener.requests[0].headers["host"] == f"site.test:{listener.port}"


def test_five_redirects_are_followed(get, listener):
    response = get(redirect_chain(listener, 5), PRIVATE_OK)
    assert (response.status, response.text) == (200, "done")
    assert response.url == listener.url("/final")


def test_six_redirects_are_refused(get, listener):
    with pytest.raises(RedirectLimitExceeded):
        get(redirect_chain(listener, 6), PRIVATE_OK)
    assert [r.path for r in listener.requests] == [f"/hop{n}" for n in range(6, 0, -1)]


def test_redirect_to_a_refused_address_is_refused(get, listener, other_listener, trust):
    trust(addresses={"127.0.0.1"}, ports=[listener.port])
    listener.route("/go", redirect(other_listener.url("/secret")))
    listener.route("/fine", ok(b"fine"))
    assert get(listener.url("/fine"), STRICT).text == "fine"  # the first hop itself is allowed
    with pytest.raises(AddressRefused):
        get(listener.url("/go"), STRICT)
    assert other_listener.accepted == []


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("http://169.254.169.254/latest/meta-data/", AddressRefused),
        ("http://10.0.0.1/", AddressRefused),
        ("http://127.0.0.1:1/", PortRefused),
        ("file:///etc/passwd", SchemeRefused),
    ],
)
def test_every_redirect_hop_is_checked(get, listener, trust, connect_log, location, error):
    trust(addresses={"127.0.0.1"}, ports=[listener.port])
    listener.route("/go", redirect(location))
    with pytest.raises(error):
        get(listener.url("/go"), STRICT)
    assert connect_log == [("127.0.0.1", listener.port)]


def test_redirects_switch_to_get_keep_307_bodies_and_drop_credentials_across_origins(
    listener, other_listener
):
    listener.route("/see-other", redirect(listener.url("/landing"), status=303))
    listener.route("/temporary", redirect(listener.url("/landing"), status=307))
    listener.route("/away", redirect(other_listener.url("/landing"), status=307))
    listener.route("/landing", ok(b"landed"))
    other_listener.route("/landing", ok(b"landed"))
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer secret"}

    fetcher.fetch(listener.url("/see-other"), PRIVATE_OK, method="POST", body=b"a=1", headers=form)
    landed = listener.requests[-1]
    assert (landed.method, landed.body, "content-type" in landed.headers) == ("GET", b"", False)

    fetcher.fetch(listener.url("/temporary"), PRIVATE_OK, method="POST", body=b"a=1", headers=form)
    landed = listener.requests[-1]
    assert (landed.method, landed.body, landed.headers["authorization"]) == ("POST", b"a=1", "Bearer secret")

    fetcher.fetch(listener.url("/away"), PRIVATE_OK, method="POST", body=b"a=1", headers=form)
    assert "authorization" not in other_listener.requests[-1].headers


def test_international_host_names_are_resolved_as_punycode(fake_dns):
    fake_dns.table["xn--bcher-kva.test"] = ["93.184.216.34"]
    target = check_url("http://Bücher.test/", STRICT)
    assert (target.hostname, target.ip, target.host_header) == (
        "xn--bcher-kva.test",
        "93.184.216.34",
        "xn--bcher-kva.test",
    )


def test_dns_rebinding_cannot_swap_the_checked_address(get, listener, other_listener, trust, fake_dns):
    trust(addresses={"127.0.0.1"}, ports=[listener.port])
    fake_dns.table["rebind.test"] = ["127.0.0.1", "127.0.0.2"]  # checked answer, then the attack
    listener.route("/", ok(b"checked host"))
    other_listener.route("/", ok(b"internal host"))
    response = get(listener.url(host="rebind.test"), STRICT)
    assert response.text == "checked host"
    assert fake_dns.lookups == ["rebind.test"]
    assert other_listener.accepted == []


# --- Size and time limits -------------------------------------------------------------------------


def test_body_up_to_max_bytes_is_returned(get, listener):
    listener.route("/", ok(b"x" * 1000, length=False))
    assert get(listener.url(), FetchPolicy(allow_private=True, max_bytes=1000)).text == "x" * 1000


@pytest.mark.parametrize(
    "handler",
    [ok(b"x" * 1001), ok(b"x" * 1001, length=False), endless(), endless(declared_length=2_000_000)],
    ids=["declared", "undeclared", "endless", "endless-declared"],
)
def test_body_over_max_bytes_is_refused(get, listener, handler):
    listener.route("/", handler)
    with pytest.raises(ResponseTooLarge):
        get(listener.url(), FetchPolicy(allow_private=True, max_bytes=1000))


def test_declared_oversize_body_is_refused_before_reading_it(get, listener):
    listener.route("/", headers_then_hang)
    started = time.monotonic()
    with pytest.raises(ResponseTooLarge):
        get(listener.url(), FetchPolicy(allow_private=True, max_bytes=1000, timeout=1.0))
    assert time.monotonic() - started < 0.5


def test_default_cap_is_one_mebibyte(get, listener):
    listener.route("/", endless())
    with pytest.raises(ResponseTooLarge, match="1048576"):
        get(listener.url(), PRIVATE_OK)


def assert_times_out(get, url, timeout=0.5, margin=0.4):
    """The fetch raises FetchTimeout within timeout + margin (checked from a thread, so it cannot hang)."""
    outcome = {}

    def run():
        try:
            get(url, FetchPolicy(allow_private=True, timeout=timeout))
        except FetchRefused as exc:
            outcome["error"] = exc
        outcome["elapsed"] = time.monotonic() - started

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout + 2)
    assert isinstance(outcome.get("error"), FetchTimeout), outcome
    assert outcome["elapsed"] < timeout + margin


def test_server_that_never_answers_times_out(get, listener):
    listener.route("/", hang)
    assert_times_out(get, listener.url())


@pytest.mark.parametrize(
    "handler",
    [
        drip(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Drip: ", b"\r\n\r\nok"),
        drip(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b""),
    ],
    ids=["headers", "body"],
)
def test_slow_drip_is_cut_at_the_total_deadline(get, listener, handler):
    listener.route("/", handler)
    assert_times_out(get, listener.url())


def test_connect_that_never_completes_times_out(get, unaccepting_port):
    assert_times_out(get, f"http://127.0.0.1:{unaccepting_port}/")


def test_deadline_covers_the_whole_redirect_chain(get, listener):
    assert_times_out(get, redirect_chain(listener, 4, delay=0.2))


def test_policy_defaults():
    assert FetchPolicy() == FetchPolicy(allow_private=False, timeout=5.0, max_bytes=1048576, max_redirects=5)
    config = {"OPENID_ALLOW_PRIVATE_HOSTS": True, "OUTBOUND_TIMEOUT": 2}
    assert fetcher.policy_from_config(config) == FetchPolicy(allow_private=True, timeout=2.0)


# --- HTTPS: pinned IP, but SNI and certificate checks use the host name ---------------------------


def write_cert(directory, name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory):
    return write_cert(tmp_path_factory.mktemp("tls"), "public.test")


@pytest.fixture
def tls_listener(tls_cert, fake_dns):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_cert)
    server = Listener(tls=context)
    context.sni_callback = lambda sslobj, name, ctx: server.sni.append(name)
    server.route("/", ok(b"secure"))
    fake_dns.table["public.test"] = ["127.0.0.1"]
    fake_dns.table["other.test"] = ["127.0.0.1"]
    yield server
    server.close()


def test_https_connects_to_the_ip_but_verifies_the_host_name(get, tls_listener, tls_cert, connect_log):
    policy = FetchPolicy(allow_private=True, ca_certs=tls_cert[0])
    response = get(tls_listener.url(scheme="https", host="public.test"), policy)
    assert (response.status, response.text) == (200, "secure")
    assert tls_listener.sni == ["public.test"]
    assert tls_listener.requests[0].headers["host"] == f"public.test:{tls_listener.port}"
    assert connect_log == [("127.0.0.1", tls_listener.port)]


def test_https_certificate_for_another_name_is_rejected(get, tls_listener, tls_cert):
    policy = FetchPolicy(allow_private=True, ca_certs=tls_cert[0])
    with pytest.raises(FetchFailed, match="certificate"):
        get(tls_listener.url(scheme="https", host="other.test"), policy)
    assert tls_listener.requests == []


def test_https_untrusted_certificate_is_rejected(get, tls_listener):
    with pytest.raises(FetchFailed, match="certificate"):
        get(tls_listener.url(scheme="https", host="public.test"), PRIVATE_OK)
    assert tls_listener.requests == []


# --- python3-openid adapter -----------------------------------------------------------------------


def openid_page(listener):
    return (
        f'<html><head><link rel="openid2.provider" href="{listener.url("/op")}">'
        f'<link rel="openid2.local_id" href="{listener.url("/me")}"></head><body>me</body></html>'
    ).encode()


def test_install_sets_a_wrapped_default_fetcher(restore_openid_fetcher):
    installed = install_openid_fetcher(STRICT)
    default = openid.fetchers.getDefaultFetcher()
    assert isinstance(default, openid.fetchers.ExceptionWrappingFetcher)
    assert default.fetcher is installed
    assert installed.policy is STRICT


def test_openid_discovery_of_loopback_fails_without_connecting(listener, trust, restore_openid_fetcher):
    trust(ports=[listener.port])
    listener.route("/", ok(openid_page(listener), content_type="text/html"))
    install_openid_fetcher(STRICT)
    with pytest.raises(openid.fetchers.HTTPFetchingError) as raised:
        discover(listener.url())
    assert isinstance(raised.value.why, AddressRefused)
    with pytest.raises(DiscoveryFailure, match="not a public internet address"):
        Consumer({}, None).begin(listener.url())
    assert listener.accepted == []


def test_openid_discovery_works_through_the_safe_fetcher(listener, restore_openid_fetcher):
    listener.route("/id", redirect(listener.url("/me")))
    listener.route("/me", ok(openid_page(listener), content_type="text/html; charset=utf-8"))
    install_openid_fetcher(PRIVATE_OK)
    claimed_id, services = discover(listener.url("/id"))
    assert claimed_id == listener.url("/me")
    assert [service.server_url for service in services] == [listener.url("/op")]
    assert "application/xrds+xml" in listener.requests[0].headers["accept"]


def test_openid_post_sends_the_form_and_returns_text(listener):
    listener.route("/op", ok(b"is_valid:true\n", content_type="text/plain"))
    response = SafeOpenIDFetcher(PRIVATE_OK).fetch(
        listener.url("/op"), body="openid.mode=check_authentication"
    )
    assert (response.status, response.body) == (200, "is_valid:true\n")
    assert response.headers["content-type"] == "text/plain"
    sent = listener.requests[0]
    assert (sent.method, sent.body) == ("POST", b"openid.mode=check_authentication")
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers["user-agent"].startswith("python-openid/")


def test_openid_status_errors_are_responses_not_exceptions(listener):
    response = SafeOpenIDFetcher(PRIVATE_OK).fetch(listener.url("/missing"))
    assert (response.status, response.body) == (404, "not found")


# --- requests adapter -----------------------------------------------------------------------------


def test_requests_session_posts_and_keeps_status(listener):
    listener.route("/token", ok(b'{"access_token": "t"}', content_type="application/json"))
    with make_safe_session(PRIVATE_OK) as session:
        response = session.post(listener.url("/token"), data={"code": "abc"})
    assert response.json() == {"access_token": "t"}
    assert listener.requests[0].body == b"code=abc"


def test_requests_session_ignores_environment_proxies(listener, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    listener.route("/", ok(b"direct"))
    with make_safe_session(PRIVATE_OK) as session:
        assert session.get(listener.url()).text == "direct"


def test_authlib_session_class_refuses_loopback(listener, trust):
    trust(ports=[listener.port])
    session_class = safe_session_class(OAuth2Session, STRICT)
    with session_class(client_id="app") as session:
        assert isinstance(session, OAuth2Session)
        with pytest.raises(AddressRefused):
            session.get(listener.url(), withhold_token=True)
    assert listener.accepted == []


def test_refusals_share_one_exception_class():
    for error in (URLRefused, SchemeRefused, PortRefused, AddressRefused, RedirectLimitExceeded):
        assert issubclass(error, FetchRefused)
    for error in (ResponseTooLarge, FetchTimeout, FetchFailed):
        assert issubclass(error, FetchRefused)
    assert not issubclass(FetchRefused, requests.RequestException)


def closed_port():
    """A loopback port nothing listens on: a connect there is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_connection_is_reported_as_refused_not_as_a_timeout():
    with pytest.raises(FetchFailed) as raised:
        fetcher.fetch(f"http://127.0.0.1:{closed_port()}/", PRIVATE_OK)
    assert not isinstance(raised.value, FetchTimeout)
    assert "took too long" not in str(raised.value)
    assert "Connection refused" in str(raised.value)


def test_openid_fetcher_follows_redirects_with_the_safe_session(listener, monkeypatch):
    hops = []
    real_send = fetcher.SafeRequestsAdapter.send

    def counting_send(self, request, *args, **kwargs):
        hops.append(request.url)
        return real_send(self, request, *args, **kwargs)

    monkeypatch.setattr(fetcher.SafeRequestsAdapter, "send", counting_send)
    response = SafeOpenIDFetcher(PRIVATE_OK).fetch(redirect_chain(listener, 2))
    assert (response.status, response.body) == (200, "done")
    assert hops == [listener.url("/hop2"), listener.url("/hop1"), listener.url("/final")]


@pytest.mark.parametrize("url", ["http://", "https://127.0.0.1:99999/", "http://[::1/"])
def test_openid_fetcher_refuses_malformed_urls(url):
    with pytest.raises(URLRefused):
        SafeOpenIDFetcher(PRIVATE_OK).fetch(url)
