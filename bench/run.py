"""Benchmark: the app under gunicorn with SQLite and PostgreSQL, against a same-bytes Flask ceiling.

    .venv/bin/python bench/run.py [--duration 8] [--no-postgres] [--postgres-url URL] [--json PATH]
    .venv/bin/python bench/run.py --quick        # a few seconds of load on a small seed: a sanity check
    .venv/bin/python bench/run.py --smoke        # a fraction of a second per figure (the test suite runs it)

For each database: seeds the data (one user with many posts, one with 25, the rest spread),
starts the production command (2 workers on loopback), signs in through the local test provider
(cold and warm), loads the signed-in index at concurrency 1 and 16 from a separate client process
in turns with the captured page served byte for byte by a minimal Flask app (the ceiling) under the
same server and load, times the growth table (newest vs oldest pages), counts SQL queries per page,
and reads the workers' peak RSS with and without an OpenID Connect provider configured. Prints
Markdown tables with the targets met or missed, and writes every figure as JSON.
Everything runs on loopback and stops by itself. Not part of the test suite.
"""

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Row, create_engine, event, insert, make_url, select, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from app.pagination import encode_cursor  # noqa: E402
from bench.load import USER_AGENT, percentile  # noqa: E402
from config import CONFIGS  # noqa: E402
from tests.support.workers import GunicornApp, children, kill_with_workers  # noqa: E402

WORKERS = 2
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/microblog_bench"
DEFAULT_JSON = ROOT / "tmp" / "bench-results.json"
PER_PAGE = CONFIGS["production"].POSTS_PER_PAGE
SESSION_COOKIE = "__Host-session"
GREETING = "Hi, bench!"  # the signed-in index of the benchmark's user (nickname from the provider)
PROLIFIC, QUIET = "prolific", "quiet"  # the growth table's two profiles
OIDC_NAME = "bench"  # the OpenID Connect provider configured for the memory figure
OIDC_CLIENT_ID, OIDC_CLIENT_SECRET = "microblog-bench", "bench-secret"  # noqa: S105 - loopback only
# Rate-limit counters and the shared cache in each process (production's defaults without Redis),
# whatever the shell says: the seed bypasses the app, so a cache shared between runs could serve
# one database's pages in another's run.
IN_PROCESS_STORAGE = {"RATELIMIT_STORAGE_URI": "memory://", "CACHE_URL": "memory://"}
# Warm-up of each later slice of an alternating load (the first has the scale's): its new client's
# connections have made their untimed first request; this lets the server come back up to pace.
SLICE_WARMUP = 0.2
TARGETS = {
    "ratio_sqlite": 0.5,
    "ratio_postgresql": 0.4,
    "growth_ratio": 1.5,
    "signin_warm_app_p50_ms": 8.0,
    "rss_oidc_postgresql_mb": 80.0,
}


@dataclass(frozen=True)
class Scale:
    """How much data and load one run uses."""

    users: int
    posts: int
    prolific_posts: int  # posts of the one prolific user (the growth table's long profile)
    quiet_posts: int  # posts of the one quiet user (its short counterpart)
    duration: float  # seconds per index and ceiling load figure
    warmup: float  # seconds of load before each figure starts counting
    growth_seconds: float  # seconds per growth-table page (concurrency 1)
    cold_rounds: int
    warm_rounds: int
    rss_seconds: float  # seconds of index load in each memory probe
    oidc_sign_ins: int  # OpenID Connect sign-ins completed in the memory probe with a provider


FULL = Scale(10_000, 100_000, 10_000, 25, 8.0, 1.0, 1.5, 20, 100, 2.0, 6)
QUICK = Scale(1_000, 10_000, 1_000, 25, 1.0, 0.2, 0.5, 2, 5, 0.5, 4)
# For the test that keeps the harness working: every figure, on the least data and load that give one.
SMOKE = Scale(200, 2_000, 200, 25, 0.3, 0.1, 0.2, 1, 2, 0.2, 1)


def log(message):
    """A progress line on stderr (stdout carries the report)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- databases ------------------------------------------------------------------------------------


def fresh_postgres(url):
    """Drop and create the benchmark database; None when no server answers."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    except Exception as exc:  # noqa: BLE001 - no server, no PostgreSQL run
        log(f"PostgreSQL not available ({type(exc).__name__}); skipping it")
        return None
    finally:
        admin.dispose()
    return url


def migrate(url):
    """Create the schema with the project's migrations (db_create.py), as a deployment does."""
    env = {**os.environ, "MICROBLOG_CONFIG": "production", "SECRET_KEY": "migrate" * 8, "DATABASE_URL": url}
    subprocess.run([sys.executable, "db_create.py"], cwd=ROOT, env=env, check=True, capture_output=True)


def author_of(n, scale, ids):
    """Who wrote post n (a user id): every k-th post is the prolific user's, a few the quiet one's,
    the rest spread over the others (ids: user ids by nickname)."""
    if n % (scale.posts // scale.prolific_posts) == 0:
        return ids[PROLIFIC]
    if n % (scale.posts // scale.quiet_posts) == 1:
        return ids[QUIET]
    return ids["user2"] + (n * 7919) % (scale.users - 2)


def seed(url, scale):
    """scale.users users and scale.posts posts, one a minute up to now (post 0 is the oldest)."""
    from app.models import Post, User

    engine = create_engine(url, poolclass=NullPool)
    now = datetime.now(UTC)
    nicknames = [PROLIFIC, QUIET] + [f"user{i}" for i in range(2, scale.users)]
    with engine.begin() as connection:
        connection.execute(
            insert(User.__table__),
            [
                {
                    "nickname": name,
                    "email": None,
                    "created_at": now,
                    "session_token": secrets.token_urlsafe(32),
                }
                for name in nicknames
            ],
        )
        ids = dict(connection.execute(select(User.__table__.c.nickname, User.__table__.c.id)).all())
        for start in range(0, scale.posts, 20_000):
            rows = [
                {
                    "body": f"Post number {n}: a short message of about the length people write.",
                    "timestamp": now - timedelta(minutes=scale.posts - n),
                    "user_id": author_of(n, scale, ids),
                }
                for n in range(start, min(start + 20_000, scale.posts))
            ]
            connection.execute(insert(Post.__table__), rows)
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    engine.dispose()


def marker(body):
    """The part of a seeded post's body that identifies it on a page ("Post number 123:")."""
    return body.split(":", 1)[0] + ":"


def oldest_page_path(path, cursor_row):
    """The URL of the page holding a list's oldest PER_PAGE posts: `?before=` the next newer post's cursor.

    cursor_row is that post, the (PER_PAGE + 1)-th oldest of the list.
    """
    return f"{path}?before={encode_cursor(cursor_row.timestamp, cursor_row.id)}"


def growth_pages(url):
    """The growth table's pages, each with its URL path, a text it must show, and its small counterpart."""
    from app.models import Post, User

    engine = create_engine(url, poolclass=NullPool)
    posts, users = Post.__table__, User.__table__

    def facts(nickname=None):
        query = select(posts.c.id, posts.c.timestamp, posts.c.body)
        if nickname:
            query = query.join(users, users.c.id == posts.c.user_id).where(users.c.nickname == nickname)
        with engine.connect() as connection:
            newest = connection.execute(query.order_by(posts.c.timestamp.desc(), posts.c.id.desc())).first()
            oldest = connection.execute(query.order_by(posts.c.timestamp, posts.c.id)).first()
            cursor_row = connection.execute(
                query.order_by(posts.c.timestamp, posts.c.id).offset(PER_PAGE).limit(1)
            ).first()
            count = connection.execute(select(text("count(*)")).select_from(query.subquery())).scalar_one()
        return ListFacts(newest, oldest, cursor_row, count)

    everyone, prolific, quiet = facts(), facts(PROLIFIC), facts(QUIET)
    engine.dispose()
    return [
        page("index_first", "Index, newest page", "/", marker(everyone.newest.body)),
        page(
            "index_oldest",
            f"Index, oldest page of {everyone.count:,} posts",
            oldest_page_path("/", everyone.cursor_row),
            marker(everyone.oldest.body),
            "index_first",
        ),
        page("quiet_first", f"Profile with {quiet.count} posts", f"/user/{QUIET}", marker(quiet.newest.body)),
        page(
            "prolific_first",
            f"Profile with {prolific.count:,} posts, newest page",
            f"/user/{PROLIFIC}",
            marker(prolific.newest.body),
            "quiet_first",
        ),
        page(
            "prolific_last",
            f"Profile with {prolific.count:,} posts, oldest page",
            oldest_page_path(f"/user/{PROLIFIC}", prolific.cursor_row),
            marker(prolific.oldest.body),
            "quiet_first",
        ),
    ]


class ListFacts(NamedTuple):
    """A list of posts (everyone's, or one user's): its newest and oldest posts, the post whose
    cursor leads to its oldest page, and how many posts it has."""

    newest: Row
    oldest: Row
    cursor_row: Row
    count: int


def page(key, label, path, expect, baseline=None):
    """One row of the growth table."""
    return {"key": key, "label": label, "path": path, "expect": expect, "baseline": baseline}


# --- processes -------------------------------------------------------------------------------------


def start_provider():
    """The OpenID 2.0 test provider (with an OpenID Connect discovery document) in its own process."""
    process = subprocess.Popen(
        [sys.executable, "bench/provider.py"], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=bench_env()
    )
    return process, process.stdout.readline().strip()


def bench_env():
    """The environment of the benchmark's own child processes (client, provider)."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def app_env(database_url, secret, oidc_issuer=None):
    """The production settings, with what a loopback benchmark needs changed (and nothing else).

    With oidc_issuer, an OpenID Connect provider is configured the way the README says
    (OIDC_<NAME>_CLIENT_ID, _CLIENT_SECRET and _ISSUER).
    """
    env = {
        "MICROBLOG_CONFIG": "production",
        "SECRET_KEY": secret,
        "DATABASE_URL": database_url,
        "OPENID_ALLOW_PRIVATE_HOSTS": "1",  # the test provider is on 127.0.0.1
        "LOGIN_RATE_LIMIT": "1000000 per minute",  # hundreds of sign-ins a minute from one address
        "GUNICORN_MAX_REQUESTS": "0",  # no worker recycling in the middle of a measurement
        **IN_PROCESS_STORAGE,
        "PYTHONPATH": str(ROOT),
    }
    if oidc_issuer:
        prefix = f"OIDC_{OIDC_NAME.upper()}_"
        env |= {prefix + "CLIENT_ID": OIDC_CLIENT_ID, prefix + "CLIENT_SECRET": OIDC_CLIENT_SECRET}
        env[prefix + "ISSUER"] = oidc_issuer
    return env


def start_gunicorn(env, app_spec="app:create_app()", bind="127.0.0.1:0"):
    """The production command (gunicorn.conf.py, WORKERS workers) for the app spec, started."""
    server = GunicornApp(env, workers=WORKERS, bind=bind)
    server.command[-1] = app_spec
    server.env["WEB_CONCURRENCY"] = str(WORKERS)
    server.env.pop("PORT", None)
    return server.start(timeout=60)


@contextmanager
def gunicorn(env, app_spec="app:create_app()", bind="127.0.0.1:0"):
    """start_gunicorn() for a measurement; quickly stopped on exit."""
    server = start_gunicorn(env, app_spec, bind)
    try:
        yield server
    finally:
        stop_soon(server)


STOPPING = []  # gunicorn masters whose workers have exited, finishing their own shutdown


def stop_soon(server):
    """Quick shutdown (the figures are taken): wait for the workers to exit, not for the master.

    The master takes seconds more to finish while using no CPU, so the run goes on meanwhile;
    wait_for_stopped() collects it at the end.
    """
    workers = worker_pids(server) if server.process.poll() is None else []
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 15
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    STOPPING.append(server.process)


def running(pid):
    """Whether a process is still running (not exited, not a zombie waiting to be collected)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, or went between opening and reading
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_stopped():
    """Collect the gunicorn masters stopped during the run (killed if one hangs)."""
    for process in STOPPING:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_with_workers(process)  # a hung worker keeps its master waiting: both go
    STOPPING.clear()


def worker_pids(server):
    """The pids of the gunicorn master's workers."""
    return children(server.process.pid)


def peak_rss_mb(server):
    """The largest VmHWM (peak resident set) among the server's workers, in MB."""
    peaks = []
    for pid in worker_pids(server):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def client(*args):
    """Run bench/load.py in its own process; return its JSON."""
    command = [sys.executable, "bench/load.py", *args]
    result = subprocess.run(command, cwd=ROOT, env=bench_env(), capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"bench/load.py {' '.join(args[:2])} failed:\n{result.stderr}")
    return json.loads(result.stdout)


def page_load(url, concurrency, duration, cookie, expect, warmup, latencies=False):
    """Load one URL from the client process; every response must be a 200 showing `expect`.

    With latencies, the figures also hold every measured latency (latencies_ms).
    """
    args = ["page", url, "--concurrency", str(concurrency), "--duration", str(duration)]
    args += ["--cookie", cookie, "--expect", expect, "--warmup", str(warmup)]
    args += ["--latencies"] if latencies else []
    figures = client(*args)
    if figures["errors"]:
        raise RuntimeError(f"{figures['errors']} failed requests to {url}")
    return figures


def fetch(url, cookie=None):
    """GET one page as the benchmark's browser: its body (it must be a 200) and the cookie after it."""
    import http.client
    from urllib.parse import urlsplit

    from bench.load import keep_cookies, page_headers, path_of

    parts = urlsplit(url)
    headers = page_headers(cookie)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", path_of(url), headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET {url} answered {response.status}")
    keep_cookies(response, headers)
    return body, headers.get("Cookie")


def sign_in(server, provider_url, database_url, rounds, cold=False):
    """Sign-in round trips through the OpenID 2.0 provider (bench/load.py signin)."""
    args = ["signin", server.url, provider_url, "--identity", provider_url + "/id/bench"]
    args += ["--database-url", database_url, "--rounds", str(rounds)]
    return client(*args, *(["--cold"] if cold else []))


# --- measurements ----------------------------------------------------------------------------------


@contextmanager
def recorded_sql(app):
    """Yield a dict that counts the statements run on the app's engines and adds up their time (ms)."""
    from app.database import app_engines
    from tests.support.queries import recorded_queries

    with app.app_context():
        engines = app_engines()
    totals = {"ms": 0.0}
    began = []

    def before(*_):
        began.append(time.perf_counter())

    def after(*_):
        totals["ms"] += (time.perf_counter() - began.pop()) * 1000

    for engine in engines:
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
    try:
        with recorded_queries(app) as queries:
            yield totals
            totals["queries"] = len(queries)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)


def count_queries(database_url, secret, cookie_value, pages):
    """SQL statements per page, in-process: first view (and its SQL time) then a repeat view.

    No application context is held around the requests, so each request has its own (and its own
    user load, session and `g`), as under gunicorn.
    """
    from app import create_app
    from app.database import dispose_engines

    quiet = {"LOG_FORMAT": "text", "LOG_REQUESTS": False, **IN_PROCESS_STORAGE}
    app = create_app("production", {"SECRET_KEY": secret, "SQLALCHEMY_DATABASE_URI": database_url, **quiet})
    test_client = app.test_client()
    test_client.set_cookie(SESSION_COOKIE, cookie_value, domain="localhost", secure=True)
    counts = {}
    for item in pages:
        views = []
        for _ in range(2):
            with recorded_sql(app) as sql:
                response = test_client.get(
                    item["path"], base_url="https://localhost", headers={"User-Agent": USER_AGENT}
                )
            assert response.status_code == 200, (item["path"], response.status_code)
            assert item["expect"].encode() in response.data, item["path"]
            views.append(sql)
        counts[item["key"]] = {
            "first_view": views[0]["queries"],
            "repeat_view": views[1]["queries"],
            "first_view_sql_ms": views[0]["ms"],
            "repeat_view_sql_ms": views[1]["ms"],
        }
    with app.app_context():
        dispose_engines()
    return counts


def measure_index_and_ceiling(server, ceiling, cookie, scale):
    """The signed-in index from the app and the same bytes from the ceiling, at concurrency 1 and 16.

    Both servers run side by side and take turns in slices (app, ceiling, ceiling, app, ...), each
    getting the same share of whatever else the machine does meanwhile; measured one after the
    other, minutes apart, the ratio moved by as much as a third between runs.
    Returns (the app's figures, the ceiling's) by concurrency.
    """
    from_app, from_ceiling = {}, {}
    for concurrency in (1, 16):
        from_app[concurrency], from_ceiling[concurrency] = alternating_load(
            server.url + "/", ceiling.url + "/", concurrency, cookie, scale
        )
    return from_app, from_ceiling


def alternating_load(app_url, ceiling_url, concurrency, cookie, scale):
    """Load the two URLs in turn, ABBA, scale.duration seconds each in all; merge each one's slices."""
    slices = 4 if scale.duration >= 4 else 2  # per URL
    seconds = scale.duration / slices
    parts = {app_url: [], ceiling_url: []}
    for url in (app_url, ceiling_url, ceiling_url, app_url) * (slices // 2):
        warmup = SLICE_WARMUP if parts[url] else scale.warmup
        parts[url].append(page_load(url, concurrency, seconds, cookie, GREETING, warmup, latencies=True))
    return merged_load(parts[app_url], seconds), merged_load(parts[ceiling_url], seconds)


def merged_load(slices, seconds):
    """One figure from the slices of one URL's load: requests per second over them all, p50 and p99."""
    latencies = [ms for figures in slices for ms in figures["latencies_ms"]]
    return {
        "concurrency": slices[0]["concurrency"],
        "slices": len(slices),
        "requests": sum(figures["requests"] for figures in slices),
        "errors": sum(figures["errors"] for figures in slices),
        "rps": sum(figures["requests"] for figures in slices) / (seconds * len(slices)),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "set_cookie_responses": sum(figures["set_cookie_responses"] for figures in slices),
        "client_cpu_s": sum(figures["client_cpu_s"] for figures in slices),
    }


def measure_growth(server, cookie, pages, scale):
    """The growth-table pages, in turn, at concurrency 1 over HTTP: p50, and the ratio to its counterpart."""
    args = [
        "pages",
        "--duration",
        str(scale.growth_seconds),
        "--cookie",
        cookie,
        "--warmup",
        str(scale.warmup),
    ]
    for item in pages:
        args += ["--page", server.url + item["path"], item["expect"]]
    rows = {}
    for item, figures in zip(pages, client(*args), strict=True):
        if figures["errors"]:
            raise RuntimeError(f"{figures['errors']} failed requests to {item['path']}")
        rows[item["key"]] = {**item, "p50_ms": figures["p50_ms"], "p99_ms": figures["p99_ms"]}
    for row in rows.values():
        if row["baseline"]:
            row["ratio"] = row["p50_ms"] / rows[row["baseline"]]["p50_ms"]
    return rows


@contextmanager
def ceiling_server(page_file, cookie, database_url):
    """The minimal Flask app serving the captured page, same server configuration; checked byte for byte.

    The ceiling uses no database; gunicorn.conf.py's start-up check is given the benchmark's.
    """
    env = {
        "MICROBLOG_CONFIG": "production",
        "SECRET_KEY": "ceiling" * 8,
        "DATABASE_URL": database_url,
        "CEILING_PAGE_FILE": str(page_file),
        "GUNICORN_MAX_REQUESTS": "0",
        "PYTHONPATH": str(ROOT),
    }
    captured = Path(page_file).read_bytes()
    with gunicorn(env, "bench.ceiling:create_app()") as server:
        served, _ = fetch(server.url + "/", cookie)
        if served != captured:
            raise RuntimeError("the ceiling does not serve the app's page byte for byte")
        log(f"ceiling: serves the same {len(served)} bytes")
        yield server


def rss_probe(database_url, secret, provider_url, pages, scale, oidc):
    """Workers' peak RSS after start and after a short mixed load, with or without an OIDC provider.

    The load: warm OpenID 2.0 sign-ins; with a provider also complete OpenID Connect sign-ins
    (discovery, the redirect, the provider's login and consent, then the callback's token request and
    ID token check) against the tests' oidc-provider on Node.js; the index at concurrency 16, each
    growth page once. The client runs in this process: only the server's memory is measured here.
    """
    if not oidc:
        return rss_under_load(app_env(database_url, secret), provider_url, pages, scale)
    from tests.oidc.harness import start_oidc_provider
    from tests.support.redis import free_port

    address = f"127.0.0.1:{free_port()}"  # the callback is registered with the provider beforehand
    callback = f"http://{address}/login/oidc/{OIDC_NAME}/callback"
    client = {"client_id": OIDC_CLIENT_ID, "client_secret": OIDC_CLIENT_SECRET}
    with start_oidc_provider(redirect_uris=[callback], **client) as provider:
        env = app_env(database_url, secret, provider.issuer)
        return rss_under_load(
            env, provider_url, pages, scale, oidc_sign_ins=scale.oidc_sign_ins, bind=address
        )


def rss_under_load(env, provider_url, pages, scale, oidc_sign_ins=0, bind="127.0.0.1:0"):
    """Start the app with env, measure its workers' peak RSS, run the probe's load, measure again."""
    from bench import load

    with gunicorn(env, bind=bind) as server:
        at_start = peak_rss_mb(server)
        identity = provider_url + "/id/bench"
        signed_in = load.run_sign_ins(server.url, provider_url, identity, max(2, scale.warm_rounds // 10))
        cookie = f"{SESSION_COOKIE}={signed_in['cookies'][SESSION_COOKIE]}"
        if oidc_sign_ins:
            # One account per provider run: a new provider (another port) is another issuer, whose
            # user would otherwise find the nickname taken (bench/memory.py --repeat).
            username = f"bench-oidc-{server.url.rsplit(':', 1)[1]}"
            load.run_oidc_sign_ins(server.url, OIDC_NAME, oidc_sign_ins, username=username)
        index = load.run_page_load(server.url + "/", 16, scale.rss_seconds, cookie, GREETING, warmup=0)
        if index["errors"]:
            raise RuntimeError(f"{index['errors']} failed requests to {server.url}/")
        for item in pages:
            fetch(server.url + item["path"], cookie)
        return {"at_start_mb": at_start, "after_load_mb": peak_rss_mb(server)}


def measure_database(name, database_url, provider_url, scale, workdir):
    """Every figure for one database."""
    secret = secrets.token_hex(32)
    log(f"{name}: migrating and seeding {scale.users:,} users and {scale.posts:,} posts")
    began = time.perf_counter()
    migrate(database_url)
    seed(database_url, scale)
    pages = growth_pages(database_url)
    log(f"{name}: seeded in {time.perf_counter() - began:.1f}s; starting gunicorn ({WORKERS} workers)")
    with gunicorn(app_env(database_url, secret)) as server:
        log(f"{name}: sign-in round trips, cold then warm")
        sign_in(server, provider_url, database_url, 3)  # the first creates the user; warms both sides
        cold = sign_in(server, provider_url, database_url, scale.cold_rounds, cold=True)
        warm = sign_in(server, provider_url, database_url, scale.warm_rounds)
        # The first page view after signing in adds the CSRF token to the session (a new cookie);
        # the browser keeps it, and the page is captured as it then stands.
        _, cookie = fetch(server.url + "/", f"{SESSION_COOKIE}={warm['cookies'][SESSION_COOKIE]}")
        captured, cookie = fetch(server.url + "/", cookie)
        cookie_value = SimpleCookie(cookie)[SESSION_COOKIE].value
        page_file = Path(workdir) / f"index-{name.lower()}.html"
        page_file.write_bytes(captured)
        with ceiling_server(page_file, cookie, database_url) as ceiling_site:
            log(f"{name}: the {len(captured)}-byte index and the ceiling in turn, at concurrency 1 and 16")
            index, ceiling_index = measure_index_and_ceiling(server, ceiling_site, cookie, scale)
            ceiling = {
                "index": ceiling_index,
                "rss_mb": peak_rss_mb(ceiling_site),
                "page_bytes": len(captured),
                "same_bytes": True,
            }
        log(f"{name}: growth table, {len(pages)} pages at concurrency 1")
        growth = measure_growth(server, cookie, pages, scale)
        rss_after_run = peak_rss_mb(server)
    queries = count_queries(database_url, secret, cookie_value, pages)
    for key, counted in queries.items():
        growth[key].update(counted)
    log(f"{name}: worker memory without, then with an OpenID Connect provider configured")
    with ThreadPoolExecutor(2) as pool:  # side by side: memory does not depend on sharing the CPU
        probes = {
            key: pool.submit(
                rss_probe, database_url, secret, provider_url, pages, scale, oidc=key == "with_oidc"
            )
            for key in ("without_oidc", "with_oidc")
        }
    rss = {key: probe.result() for key, probe in probes.items()}
    rss["after_full_run_without_oidc_mb"] = rss_after_run
    return {
        "name": name,
        "page_bytes": len(captured),
        "index": index,
        "ceiling": ceiling,
        "ratio": {c: index[c]["rps"] / ceiling["index"][c]["rps"] for c in (1, 16)},
        "growth": growth,
        "signin": {"cold": without_cookies(cold), "warm": without_cookies(warm)},
        "rss": rss,
    }


def without_cookies(figures):
    """Sign-in figures without the session cookies (kept out of the results file)."""
    return {k: v for k, v in figures.items() if k != "cookies"}


# --- report ----------------------------------------------------------------------------------------


def verdict(ok):
    """How a target reads in the report."""
    return "met" if ok else "**missed**"


def targets(results):
    """Each target, per database where it applies: (label, figure, met)."""
    checks = []
    for r in results:
        key = r["name"].lower()
        ratio = min(r["ratio"].values())
        if f"ratio_{key}" in TARGETS:
            goal = TARGETS[f"ratio_{key}"]
            checks.append(
                (
                    f"{r['name']}: index >= {goal} of the ceiling (lower of c=1, c=16)",
                    f"{ratio:.2f}",
                    ratio >= goal,
                )
            )
        for row in r["growth"].values():
            if row["baseline"]:
                goal = TARGETS["growth_ratio"]
                baseline = r["growth"][row["baseline"]]["label"].lower()
                label = f"{r['name']}: {row['label']} within {goal}x of {baseline}"
                checks.append((label, f"{row['ratio']:.2f}x", row["ratio"] <= goal))
        app_p50 = r["signin"]["warm"]["app_p50_ms"]
        goal = TARGETS["signin_warm_app_p50_ms"]
        checks.append(
            (f"{r['name']}: warm sign-in, app share p50 <= {goal:g} ms", f"{app_p50:.1f} ms", app_p50 <= goal)
        )
        if f"rss_oidc_{key}_mb" in TARGETS:
            goal = TARGETS[f"rss_oidc_{key}_mb"]
            rss = r["rss"]["with_oidc"]["after_load_mb"]
            checks.append(
                (
                    f"{r['name']}: worker RSS <= {goal:g} MB with OpenID Connect configured",
                    f"{rss:.1f} MB",
                    rss <= goal,
                )
            )
    return checks


def report(results, scale, elapsed, load_before):
    """The Markdown tables and the targets, as printed (the README's Results section uses them)."""
    names = [r["name"] for r in results]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, "
        f"gunicorn {WORKERS} workers x 4 threads (gthread), client in a separate process on loopback, "
        f"{scale.duration:g}s per load figure; "
        f"{scale.users:,} users, {scale.posts:,} posts; whole run {elapsed:.0f}s; "
        f"1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after.",
        "",
    ]

    def table(header, rows):
        lines.extend(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)])
        lines.extend("| " + " | ".join(row) + " |" for row in rows)
        lines.append("")

    throughput = []
    for c in (1, 16):
        throughput.append(
            [f"Index, concurrency {c}: req/s (app / ceiling)"]
            + [f"{r['index'][c]['rps']:.0f} / {r['ceiling']['index'][c]['rps']:.0f}" for r in results]
        )
        throughput.append(
            [f"Index, concurrency {c}: p50 / p99 ms, app"]
            + [f"{r['index'][c]['p50_ms']:.1f} / {r['index'][c]['p99_ms']:.1f}" for r in results]
        )
        throughput.append(
            [f"Index, concurrency {c}: p50 / p99 ms, ceiling"]
            + [
                f"{r['ceiling']['index'][c]['p50_ms']:.1f} / {r['ceiling']['index'][c]['p99_ms']:.1f}"
                for r in results
            ]
        )
    throughput.append(
        ["Ratio to the ceiling, c=1 / c=16"]
        + [f"{r['ratio'][1]:.2f} / {r['ratio'][16]:.2f}" for r in results]
    )
    throughput.append(
        ["Page bytes (ceiling: same bytes)"]
        + [f"{r['page_bytes']} ({'yes' if r['ceiling']['same_bytes'] else 'NO'})" for r in results]
    )
    throughput.append(
        ["Responses setting a cookie, c=1 / c=16"]
        + [
            f"{r['index'][1]['set_cookie_responses']} / {r['index'][16]['set_cookie_responses']}"
            for r in results
        ]
    )
    table(["Index (signed in)", *names], throughput)

    growth = []
    for key, row in results[0]["growth"].items():
        cells = []
        for r in results:
            g = r["growth"][key]
            ratio = f" ({g['ratio']:.2f}x)" if g["baseline"] else ""
            cells.append(
                f"{g['p50_ms']:.1f}{ratio}; {g['first_view']} / {g['repeat_view']} q; "
                f"{g['first_view_sql_ms']:.1f} / {g['repeat_view_sql_ms']:.1f} ms SQL"
            )
        growth.append([row["label"], *cells])
    lines.append(
        "Growth: p50 ms at concurrency 1 over HTTP (ratio to its small-data counterpart); SQL queries "
        "on a first / repeat view and their time in SQL (in-process, one view each)."
    )
    lines.append("")
    table(["Page", *names], growth)

    signin = []
    for kind in ("cold", "warm"):
        label = "cold (new association)" if kind == "cold" else "warm"
        signin.append(
            [f"Sign-in, {label}: per s / p50 ms / app share p50 ms"]
            + [
                f"{r['signin'][kind]['per_second']:.0f} / {r['signin'][kind]['p50_ms']:.1f} / "
                f"{r['signin'][kind]['app_p50_ms']:.1f}"
                for r in results
            ]
        )
    table(["Sign-in round trip", *names], signin)

    memory = []
    for key, label in (
        ("without_oidc", "no OpenID Connect provider"),
        ("with_oidc", "an OpenID Connect provider"),
    ):
        memory.append(
            [f"Worker peak RSS MB, {label}: at start / after load"]
            + [f"{r['rss'][key]['at_start_mb']:.1f} / {r['rss'][key]['after_load_mb']:.1f}" for r in results]
        )
    memory.append(
        ["Worker peak RSS MB after the whole run (no OIDC)"]
        + [f"{r['rss']['after_full_run_without_oidc_mb']:.1f}" for r in results]
    )
    memory.append(["Ceiling worker peak RSS MB"] + [f"{r['ceiling']['rss_mb']:.1f}" for r in results])
    table(["Memory", *names], memory)

    lines.append("Targets:")
    lines.append("")
    lines.extend(f"- {label}: {figure} - {verdict(ok)}" for label, figure, ok in targets(results))
    return "\n".join(lines)


def main(argv=None):
    """Run every measurement, print the report, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small seed, a few seconds of load: a sanity check"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny seed, a fraction of a second per figure: for the tests"
    )
    parser.add_argument("--duration", type=float, help="seconds per index load figure (default 8; quick 0.5)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES))
    parser.add_argument(
        "--json", default=str(DEFAULT_JSON), help=f"where to write the figures ({DEFAULT_JSON})"
    )
    args = parser.parse_args(argv)
    scale = SMOKE if args.smoke else QUICK if args.quick else FULL
    if args.duration:
        scale = replace(scale, duration=args.duration)
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    provider, provider_url = start_provider()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="microblog-bench-") as tmp:
            results.append(measure_database("SQLite", f"sqlite:///{tmp}/bench.db", provider_url, scale, tmp))
            postgres = None if args.no_postgres else fresh_postgres(args.postgres_url)
            if postgres:
                results.append(measure_database("PostgreSQL", postgres, provider_url, scale, tmp))
    finally:
        provider.terminate()
        provider.wait()
        wait_for_stopped()
    elapsed = time.perf_counter() - began
    checks = targets(results)
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": asdict(scale),
        "elapsed_s": elapsed,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "results": results,
        "targets": [{"target": label, "figure": figure, "met": ok} for label, figure, ok in checks],
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(document, indent=2, default=str))
    print(report(results, scale, elapsed, load_before))
    log(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
