"""Benchmark: the app under gunicorn with SQLite and PostgreSQL, against a minimal-Flask ceiling.

    .venv/bin/python bench/run.py [--duration 8] [--no-postgres] [--postgres-url URL]

Seeds 10,000 users and 100,000 posts, starts the production command (2 workers on
loopback), signs in through the local test provider (cold and warm), loads the
signed-in index at concurrency 1 and 16 from a separate client process, does the
same for a minimal Flask app rendering a page of the same size, reads each worker's
peak RSS, and prints a Markdown table with the targets. Not part of the test suite.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, make_url, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from tests.support.workers import GunicornApp  # noqa: E402

USERS = 10_000
POSTS = 100_000
WORKERS = 2
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/microblog_bench"
TARGETS = {"ratio": 0.5, "signin_app_p50_ms": 30.0, "rss_mb": 80.0}


def log(message):
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
    env = {**os.environ, "MICROBLOG_CONFIG": "production", "SECRET_KEY": "migrate" * 8, "DATABASE_URL": url}
    subprocess.run([sys.executable, "db_create.py"], cwd=ROOT, env=env, check=True, capture_output=True)


def seed(url):
    """10,000 users and 100,000 posts, spread over the last 100,000 minutes."""
    from app.models import Post, User

    engine = create_engine(url, poolclass=NullPool)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(User.__table__),
            [
                {
                    "nickname": f"user{i}",
                    "email": None,
                    "created_at": now,
                    "session_token": secrets.token_urlsafe(32),
                }
                for i in range(USERS)
            ],
        )
        for start in range(0, POSTS, 20_000):
            rows = [
                {
                    "body": f"Post number {n}: a short message of about the length people write.",
                    "timestamp": now - timedelta(minutes=POSTS - n),
                    "user_id": 1 + (n * 7919) % USERS,
                }
                for n in range(start, start + 20_000)
            ]
            connection.execute(insert(Post.__table__), rows)
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    engine.dispose()


# --- processes -------------------------------------------------------------------------------------


def start_provider():
    process = subprocess.Popen(
        [sys.executable, "bench/provider.py"], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=bench_env()
    )
    return process, process.stdout.readline().strip()


def bench_env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def app_env(database_url, secret):
    """The production settings, with what a loopback benchmark needs changed (and nothing else)."""
    return {
        "MICROBLOG_CONFIG": "production",
        "SECRET_KEY": secret,
        "DATABASE_URL": database_url,
        "OPENID_ALLOW_PRIVATE_HOSTS": "1",  # the test provider is on 127.0.0.1
        "LOGIN_RATE_LIMIT": "1000000 per minute",  # hundreds of sign-ins a minute from one address
        "GUNICORN_MAX_REQUESTS": "0",  # no worker recycling in the middle of a measurement
        "PYTHONPATH": str(ROOT),
    }


def start_gunicorn(env, app_spec="app:create_app()"):
    server = GunicornApp(env, workers=WORKERS)
    server.command[-1] = app_spec
    server.env["WEB_CONCURRENCY"] = str(WORKERS)
    server.env.pop("PORT", None)
    return server.start(timeout=60)


def worker_pids(server):
    path = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


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
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout)


def page_load(url, concurrency, duration, cookie=None, expect=None):
    args = ["page", url, "--concurrency", str(concurrency), "--duration", str(duration)]
    if cookie:
        args += ["--cookie", cookie]
    if expect:
        args += ["--expect", expect]
    figures = client(*args)
    if figures["errors"]:
        raise RuntimeError(f"{figures['errors']} failed requests to {url}")
    return figures


# --- measurements ----------------------------------------------------------------------------------


def count_index_queries(database_url, secret, cookie_value):
    """SQL statements per signed-in index page, first and last page, counted with engine events."""
    from app import create_app
    from app.extensions import db
    from tests.support.queries import recorded_queries

    quiet = {"LOG_FORMAT": "text", "LOG_REQUESTS": False}
    app = create_app("production", {"SECRET_KEY": secret, "SQLALCHEMY_DATABASE_URI": database_url, **quiet})
    test_client = app.test_client()
    test_client.set_cookie("__Host-session", cookie_value, domain="localhost", secure=True)
    counts = []
    for page in (1, POSTS // 20):
        with app.app_context(), recorded_queries(db.engine) as queries:
            response = test_client.get(f"/?page={page}", base_url="https://localhost")
            assert response.status_code == 200 and b"Hi, bench!" in response.data
            counts.append(len(queries))
    with app.app_context():
        db.engine.dispose()
    return counts


def measure_app(name, database_url, provider_url, duration, ceiling_bytes=None):
    secret = secrets.token_hex(32)
    log(f"{name}: migrating and seeding {USERS:,} users and {POSTS:,} posts")
    began = time.perf_counter()
    migrate(database_url)
    seed(database_url)
    log(f"{name}: seeded in {time.perf_counter() - began:.1f}s; starting gunicorn ({WORKERS} workers)")
    server = start_gunicorn(app_env(database_url, secret))
    try:
        identity = provider_url + "/id/bench"
        signin = ["signin", server.url, provider_url, "--identity", identity, "--database-url", database_url]
        log(f"{name}: sign-in round trips, cold then warm")
        client(*signin, "--rounds", "3")  # first sign-in creates the user; warms both sides
        cold = client(*signin, "--rounds", "20", "--cold")
        warm = client(*signin, "--rounds", "100")
        cookie_value = warm["cookies"]["__Host-session"]
        cookie = f"__Host-session={cookie_value}"
        page_bytes = len(subprocess_get(server.url + "/", cookie))
        log(f"{name}: signed-in index is {page_bytes} bytes; loading it at concurrency 1 and 16")
        index = {c: page_load(server.url + "/", c, duration, cookie, "Hi, bench!") for c in (1, 16)}
        rss = peak_rss_mb(server)
    finally:
        server.stop()
    queries = count_index_queries(database_url, secret, cookie_value)
    return {
        "name": name,
        "cold": cold,
        "warm": warm,
        "index": index,
        "rss_mb": rss,
        "page_bytes": page_bytes,
        "queries": queries,
    }


def subprocess_get(url, cookie):
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", parts.path or "/", headers={"Cookie": cookie})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200 and b"Hi, bench!" in body, response.status
    return body


def measure_ceiling(page_bytes, duration):
    env = {
        "MICROBLOG_CONFIG": "production",
        "SECRET_KEY": "ceiling" * 8,
        "CEILING_PAGE_BYTES": str(page_bytes),
        "GUNICORN_MAX_REQUESTS": "0",
        "PYTHONPATH": str(ROOT),
    }
    server = start_gunicorn(env, "bench.ceiling:create_app()")
    try:
        size = len(subprocess_get_plain(server.url + "/"))
        log(f"ceiling: page is {size} bytes; loading it at concurrency 1 and 16")
        figures = {c: page_load(server.url + "/", c, duration, expect="Hi, reader!") for c in (1, 16)}
        rss = peak_rss_mb(server)
    finally:
        server.stop()
    return {"index": figures, "rss_mb": rss, "page_bytes": size}


def subprocess_get_plain(url):
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback URL we started
        return response.read()


# --- report ----------------------------------------------------------------------------------------


def verdict(ok):
    return "met" if ok else "**missed**"


def report(results, ceiling, duration, elapsed, load_before):
    """The Markdown table and the targets, as printed and pasted into the README."""
    c1, c16 = ceiling["index"][1], ceiling["index"][16]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, "
        f"gunicorn {WORKERS} workers x 4 threads (gthread), client in a separate process on loopback, "
        f"{duration:g}s per load figure; "
        f"{USERS:,} users, {POSTS:,} posts; whole run {elapsed:.0f}s; "
        f"1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after.",
        "",
        "| Figure | " + " | ".join(r["name"] for r in results) + " | Minimal Flask (ceiling) |",
        "|---|" + "---|" * len(results) + "---|",
    ]

    def row(label, values, ceiling_value="–"):
        lines.append(f"| {label} | " + " | ".join(values) + f" | {ceiling_value} |")

    row("Index, concurrency 1: req/s", [f"{r['index'][1]['rps']:.0f}" for r in results], f"{c1['rps']:.0f}")
    row(
        "Index, concurrency 1: p50 / p99 ms",
        [f"{r['index'][1]['p50_ms']:.1f} / {r['index'][1]['p99_ms']:.1f}" for r in results],
        f"{c1['p50_ms']:.1f} / {c1['p99_ms']:.1f}",
    )
    row(
        "Index, concurrency 16: req/s", [f"{r['index'][16]['rps']:.0f}" for r in results], f"{c16['rps']:.0f}"
    )
    row(
        "Index, concurrency 16: p50 / p99 ms",
        [f"{r['index'][16]['p50_ms']:.1f} / {r['index'][16]['p99_ms']:.1f}" for r in results],
        f"{c16['p50_ms']:.1f} / {c16['p99_ms']:.1f}",
    )
    row(
        "Ratio to ceiling, concurrency 1 / 16",
        [
            f"{r['index'][1]['rps'] / c1['rps']:.2f} / {r['index'][16]['rps'] / c16['rps']:.2f}"
            for r in results
        ],
        "1",
    )
    row("Page size, bytes", [str(r["page_bytes"]) for r in results], str(ceiling["page_bytes"]))
    row(
        "SQL queries per index page (page 1 / last page)",
        [" / ".join(map(str, r["queries"])) for r in results],
    )
    for kind in ("cold", "warm"):
        label = "cold (new association)" if kind == "cold" else "warm"
        row(
            f"Sign-in round trip, {label}: per s / p50 ms",
            [f"{r[kind]['per_second']:.0f} / {r[kind]['p50_ms']:.1f}" for r in results],
        )
        row(f"Sign-in, {label}: app share p50 ms", [f"{r[kind]['app_p50_ms']:.1f}" for r in results])
    row("Peak RSS of one worker, MB", [f"{r['rss_mb']:.1f}" for r in results], f"{ceiling['rss_mb']:.1f}")
    lines += ["", "Targets:", ""]
    signin_target = TARGETS["signin_app_p50_ms"]
    for r in results:
        ratio = min(r["index"][1]["rps"] / c1["rps"], r["index"][16]["rps"] / c16["rps"])
        lines += [
            f"- {r['name']}: index throughput >= {TARGETS['ratio']} of the ceiling: {ratio:.2f} "
            f"(lower of c=1 and c=16) - {verdict(ratio >= TARGETS['ratio'])}",
            f"- {r['name']}: warm sign-in app share p50 <= {signin_target:g} ms: "
            f"{r['warm']['app_p50_ms']:.1f} ms - {verdict(r['warm']['app_p50_ms'] <= signin_target)}",
            f"- {r['name']}: queries per page constant: {' / '.join(map(str, r['queries']))} - "
            f"{verdict(len(set(r['queries'])) == 1 and r['queries'][0] <= 3)}",
            f"- {r['name']}: worker peak RSS <= {TARGETS['rss_mb']:g} MB: {r['rss_mb']:.1f} MB - "
            f"{verdict(r['rss_mb'] <= TARGETS['rss_mb'])}",
        ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load figure (default 8)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES))
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    provider, provider_url = start_provider()
    results, ceiling = [], None
    try:
        with tempfile.TemporaryDirectory(prefix="microblog-bench-") as tmp:
            results.append(measure_app("SQLite", f"sqlite:///{tmp}/bench.db", provider_url, args.duration))
            ceiling = measure_ceiling(results[0]["page_bytes"], args.duration)
            postgres = None if args.no_postgres else fresh_postgres(args.postgres_url)
            if postgres:
                results.append(measure_app("PostgreSQL", postgres, provider_url, args.duration))
    finally:
        provider.terminate()
        provider.wait()
    elapsed = time.perf_counter() - began
    if args.json:
        Path(args.json).write_text(
            json.dumps({"results": results, "ceiling": ceiling}, indent=2, default=str)
        )
    print(report(results, ceiling, args.duration, elapsed, load_before))


if __name__ == "__main__":
    main()
