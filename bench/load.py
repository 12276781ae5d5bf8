"""The benchmark's client, run as its own process: page load at a given concurrency, or sign-in round trips.

    python bench/load.py page URL --concurrency 16 --duration 8 [--cookie "name=value"] [--expect TEXT]
    python bench/load.py pages --page URL EXPECT [--page URL EXPECT ...] --duration 2 [--cookie ...]
    python bench/load.py signin APP_URL PROVIDER_URL --identity URL --rounds 50 [--cold --database-url URL]
    python bench/load.py oidc-signin APP_URL PROVIDER_NAME --rounds 4   (the provider: tests/oidc)

Prints one JSON object. Plain http.client over keep-alive connections, one thread per
concurrent client; latencies are measured around each full request/response.
"""

import argparse
import http.client
import json
import re
import statistics
import sys
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
WARMUP_SECONDS = 1.0
# One browser: the same User-Agent when it signs in and when it loads pages. A device session
# notes the browser it started in, so a different one on later requests is a different device.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 microblog-bench"


def percentile(values, fraction):
    """The value below which `fraction` of the sorted values fall (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


class Connection:
    """One keep-alive HTTP connection to one host, reopened when the server closes it."""

    def __init__(self, base_url):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- page load ------------------------------------------------------------------------------------


def path_of(url):
    """The path and query of a URL, as the request line carries them."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def keep_cookies(response, headers):
    """Like a browser: a cookie the response sets replaces the one sent (headers["Cookie"], updated)."""
    set_cookies = response.headers.get_all("Set-Cookie") or []
    if not set_cookies:
        return False
    jar = {name: morsel.value for name, morsel in SimpleCookie(headers.get("Cookie", "")).items()}
    for header in set_cookies:
        jar.update({name: morsel.value for name, morsel in SimpleCookie(header).items()})
    headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
    return True


def page_worker(url, headers, expect, window, results, errors, cookie_sets):
    """One client: one untimed request, then GET url over one keep-alive connection until the window ends.

    The untimed first request opens the connection and takes a worker's first-request costs out of
    the figures; `window` (a barrier) then starts the clock once every client has made it. Each
    client keeps the cookies it is given, as a browser does.
    """
    path = path_of(url)
    headers = dict(headers)
    connection = Connection(url)
    response, _ = connection.request("GET", path, headers=headers)
    keep_cookies(response, headers)
    window.wait()
    start, deadline = window.times
    latencies = []
    while True:
        began = time.perf_counter()
        if began >= deadline:
            break
        response, data = connection.request("GET", path, headers=headers)
        elapsed = time.perf_counter() - began
        cookie_set = keep_cookies(response, headers)
        if response.status != 200 or (expect and expect.encode() not in data):
            errors.append(response.status)
        elif began >= start:
            latencies.append(elapsed)
            if cookie_set:
                cookie_sets.append(1)
    connection.close()
    results.extend(latencies)


class Window(threading.Barrier):
    """A barrier for the clients that, once all have arrived, fixes the warm-up's end and the deadline."""

    def __init__(self, parties, warmup, duration):
        super().__init__(parties, action=self.open)
        self.warmup, self.duration = warmup, duration
        self.times = None

    def open(self):
        now = time.perf_counter()
        self.times = (now + self.warmup, now + self.warmup + self.duration)


def page_headers(cookie=None):
    """The headers of every page request: the benchmark browser's User-Agent, and its cookie if any."""
    headers = {"User-Agent": USER_AGENT}
    if cookie:
        headers["Cookie"] = cookie
    return headers


def run_page_load(
    url, concurrency, duration, cookie=None, expect=None, warmup=WARMUP_SECONDS, latencies=False
):
    """GET url from `concurrency` clients for `duration` seconds after a warm-up; return the figures.

    With latencies, every measured latency too (latencies_ms), for merging slices of a load.
    """
    headers = page_headers(cookie)
    window = Window(concurrency, warmup, duration)
    results, errors, cookie_sets = [], [], []
    threads = [
        threading.Thread(
            target=page_worker, args=(url, headers, expect, window, results, errors, cookie_sets)
        )
        for _ in range(concurrency)
    ]
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if not results:
        raise RuntimeError(f"no successful request to {url} in {duration}s ({len(errors)} failed)")
    figures = {
        "concurrency": concurrency,
        "requests": len(results),
        "errors": len(errors),
        "rps": len(results) / duration,
        "p50_ms": percentile(results, 0.50) * 1000,
        "p99_ms": percentile(results, 0.99) * 1000,
        "set_cookie_responses": len(cookie_sets),  # a session re-signed on every request shows here
        "client_cpu_s": time.process_time() - cpu_before,
    }
    if latencies:
        figures["latencies_ms"] = [seconds * 1000 for seconds in results]
    return figures


def run_interleaved(pages, duration, cookie=None, warmup=WARMUP_SECONDS):
    """GET several pages in turn from one client at concurrency 1, for `duration` seconds each in all.

    Taking the pages in turn (A, B, C, A, B, C, ...) rather than one after another gives each the
    same share of whatever else the machine is doing, so their ratios hold on a busy machine.
    pages: (url, expect) pairs on one server. Returns the figures of each page, in order.
    """
    headers = page_headers(cookie)
    connection = Connection(pages[0][0])
    paths = [path_of(url) for url, _ in pages]
    latencies = [[] for _ in pages]
    errors = [0 for _ in pages]
    for path in paths:  # untimed: opens the connection, first-request costs
        response, _ = connection.request("GET", path, headers=headers)
        keep_cookies(response, headers)
    start = time.perf_counter() + warmup
    deadline = start + duration * len(pages)
    while time.perf_counter() < deadline:
        for i, (path, (_, expect)) in enumerate(zip(paths, pages, strict=True)):
            began = time.perf_counter()
            response, data = connection.request("GET", path, headers=headers)
            elapsed = time.perf_counter() - began
            keep_cookies(response, headers)
            if response.status != 200 or expect.encode() not in data:
                errors[i] += 1
            elif began >= start:
                latencies[i].append(elapsed)
    connection.close()
    if not all(latencies):
        failed = dict(zip(paths, errors, strict=True))
        raise RuntimeError(f"a page had no successful request in {duration}s (failed requests: {failed})")
    return [
        {
            "url": url,
            "requests": len(times),
            "errors": failed,
            "p50_ms": percentile(times, 0.50) * 1000,
            "p99_ms": percentile(times, 0.99) * 1000,
        }
        for (url, _), times, failed in zip(pages, latencies, errors, strict=True)
    ]


# --- sign-in round trips ------------------------------------------------------------------------------


class Browser:
    """Cookies and keep-alive connections, like a browser; cookies are kept whatever their Secure flag."""

    def __init__(self):
        self.cookies = {}
        self.connections = {}

    def request(self, method, url, form=None):
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        connection = self.connections.setdefault(origin, Connection(origin))
        headers = {"User-Agent": USER_AGENT}
        body = None
        if self.cookies and parts.hostname == "127.0.0.1":
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        began = time.perf_counter()
        response, data = connection.request(method, path_of(url), body=body, headers=headers)
        elapsed = time.perf_counter() - began
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response, data.decode("utf-8", "replace"), elapsed

    def close(self):
        for connection in self.connections.values():
            connection.close()


def back_channel_seconds(provider, stats_url):
    """Seconds the provider has spent serving the app's own requests so far (read outside the timed steps)."""
    _, body, _ = provider.request("GET", stats_url)
    return json.loads(body)["back_channel_seconds"]


def sign_in_once(app_url, identity, provider, stats_url):
    """One full sign-in with a new browser; returns (total, app share, provider share) in seconds.

    Steps: GET /login, POST /login (the app discovers the provider and, when cold,
    associates with it), GET the provider's URL (it answers at once), GET the
    callback (the app verifies the signed answer and signs the user in).
    App share = the client-side time of the three requests to the app, minus the
    time the provider spent serving the app's back-channel requests (discovery,
    association) meanwhile, as the provider itself measured it.
    """
    browser = Browser()
    before = back_channel_seconds(provider, stats_url)
    _, page, t_form = browser.request("GET", app_url + "/login")
    token = CSRF_PATTERN.search(page).group(1)
    started, _, t_start = browser.request(
        "POST", app_url + "/login", {"csrf_token": token, "openid": identity}
    )
    assert started.status == 302, started.status
    answer, _, t_provider = browser.request("GET", started.getheader("Location"))
    assert answer.status == 302, answer.status
    finished, _, t_callback = browser.request("GET", answer.getheader("Location"))
    assert finished.status == 302 and finished.getheader("Location") == "/", finished.getheader("Location")
    browser.close()
    back_channel = back_channel_seconds(provider, stats_url) - before
    total = t_form + t_start + t_provider + t_callback
    app_share = t_form + t_start + t_callback - back_channel
    return total, app_share, total - app_share, browser.cookies


def forget_associations(database_url):
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM openid_association"))
    engine.dispose()


def run_sign_ins(app_url, provider_url, identity, rounds, cold=False, database_url=None):
    """Sign in `rounds` times in a row (cold: the app forgets its association first each time)."""
    provider = Browser()
    totals, app_shares, provider_shares = [], [], []
    cookies = None
    for _ in range(rounds):
        if cold:
            forget_associations(database_url)
        total, app_share, provider_share, cookies = sign_in_once(
            app_url, identity, provider, provider_url + "/__stats"
        )
        totals.append(total)
        app_shares.append(app_share)
        provider_shares.append(provider_share)
    return {
        "rounds": rounds,
        "cold": cold,
        "per_second": rounds / sum(totals),
        "p50_ms": statistics.median(totals) * 1000,
        "app_p50_ms": statistics.median(app_shares) * 1000,
        "app_per_second": rounds / sum(app_shares),
        "provider_p50_ms": statistics.median(provider_shares) * 1000,
        "cookies": cookies,
    }


def start_oidc_sign_in(browser, app_url, provider_name):
    """GET /login, then POST the provider's button: the app discovers the provider and redirects
    to it. Returns where it sent the browser."""
    _, page, _ = browser.request("GET", app_url + "/login")
    token = CSRF_PATTERN.search(page).group(1)
    started, _, _ = browser.request("POST", f"{app_url}/login/oidc/{provider_name}", {"csrf_token": token})
    location = started.getheader("Location") or ""
    if started.status != 302 or "/login" in location.split("?")[0]:
        raise RuntimeError(f"OpenID Connect start answered {started.status} to {location!r}")
    return location


def run_oidc_sign_ins(app_url, provider_name, rounds, username="bench-oidc"):
    """Complete `rounds` OpenID Connect sign-ins, each with a new browser, against the tests'
    oidc-provider (tests/oidc/harness.py plays its login and consent pages); the app's callback
    exchanges the code and checks the ID token, which loads the token code on first use."""
    from tests.oidc.harness import complete_login

    callback = f"{app_url}/login/oidc/{provider_name}/callback"
    for _ in range(rounds):
        browser = Browser()
        answer = complete_login(
            start_oidc_sign_in(browser, app_url, provider_name), username, redirect_uri=callback
        )
        finished, _, _ = browser.request("GET", answer)
        browser.close()
        target = urlsplit(finished.getheader("Location") or "").path
        if finished.status != 302 or target.startswith("/login"):
            raise RuntimeError(f"OpenID Connect callback answered {finished.status} to {target!r}")
    return {"rounds": rounds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    page = sub.add_parser("page")
    page.add_argument("url")
    page.add_argument("--concurrency", type=int, default=1)
    page.add_argument("--duration", type=float, default=8)
    page.add_argument("--cookie")
    page.add_argument("--expect")
    page.add_argument("--warmup", type=float, default=WARMUP_SECONDS)
    page.add_argument("--latencies", action="store_true", help="also every latency measured")
    pages = sub.add_parser("pages")
    pages.add_argument("--page", nargs=2, action="append", metavar=("URL", "EXPECT"), required=True)
    pages.add_argument("--duration", type=float, default=2)
    pages.add_argument("--cookie")
    pages.add_argument("--warmup", type=float, default=WARMUP_SECONDS)
    signin = sub.add_parser("signin")
    signin.add_argument("app_url")
    signin.add_argument("provider_url")
    signin.add_argument("--identity", required=True)
    signin.add_argument("--rounds", type=int, default=50)
    signin.add_argument("--cold", action="store_true")
    signin.add_argument("--database-url")
    oidc = sub.add_parser("oidc-signin")
    oidc.add_argument("app_url")
    oidc.add_argument("provider_name")
    oidc.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    if args.mode == "oidc-signin":
        result = run_oidc_sign_ins(args.app_url, args.provider_name, args.rounds)
    elif args.mode == "pages":
        result = run_interleaved(args.page, args.duration, args.cookie, args.warmup)
    elif args.mode == "page":
        result = run_page_load(
            args.url, args.concurrency, args.duration, args.cookie, args.expect, args.warmup, args.latencies
        )
    else:
        result = run_sign_ins(
            args.app_url, args.provider_url, args.identity, args.rounds, args.cold, args.database_url
        )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
