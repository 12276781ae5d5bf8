"""Benchmark: /healthz latency for an honest client, quiet and while a hostile provider attacks sign-in.

    .venv/bin/python bench/attack.py [--duration 15] [--attackers 10] [--no-rate-limit]

Starts the production command (gunicorn, 2 workers x 4 threads, SQLite) on loopback and a hostile
"provider" in this process that serves two things: a tarpit (accepts, then answers nothing for 30 s)
and a crafted 1 MiB discovery page (`<html><head>` then unclosed comments, the shape that made
python3-openid's link parser run for hours). An honest client asks for /healthz every 100 ms, first
with the site quiet, then while `--attackers` threads start sign-ins at those two URLs as fast as the
site answers them (within production's LOGIN_RATE_LIMIT, unless --no-rate-limit). Prints p50 / p95 /
max for both phases and what the attackers got back. Bounded: each phase lasts `--duration` seconds,
everything stops by itself, loopback only.
"""

import argparse
import http.client
import re
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import WORKERS, app_env, log, migrate, start_gunicorn  # noqa: E402
from tests.support.listener import Listener, ok  # noqa: E402

CRAFTED = ("<html><head>" + "<!--" * (1024 * 1024 // 4 - 3)).encode()
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def tarpit(conn, request, listener):
    """Accept, read the request, then say nothing for up to 30 s."""
    listener.stopping.wait(30)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def healthz_latencies(host, port, duration):
    """GET /healthz every 100 ms for `duration` seconds on a fresh connection each; latencies in ms."""
    latencies, deadline = [], time.monotonic() + duration
    while time.monotonic() < deadline:
        started = time.monotonic()
        connection = http.client.HTTPConnection(host, port, timeout=60)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            latencies.append((time.monotonic() - started) * 1000)
        except OSError:
            latencies.append(float("inf"))
        finally:
            connection.close()
        time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))
    return latencies


def attacker(host, port, targets, deadline, outcomes):
    """Start sign-ins at the hostile URLs, one after another, until the deadline."""
    n = 0
    while time.monotonic() < deadline:
        target = targets[n % len(targets)]
        n += 1
        connection = http.client.HTTPConnection(host, port, timeout=40)
        try:
            connection.request("GET", "/login")
            page = connection.getresponse()
            html = page.read().decode()
            cookie = page.getheader("Set-Cookie", "").split(";", 1)[0]
            found = CSRF.search(html)
            token = (found.group(1) or found.group(2)) if found else ""
            body = urlencode({"csrf_token": token, "openid": target})
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
            connection.request("POST", "/login", body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            outcomes[answer.status] += 1
        except OSError as exc:
            outcomes[type(exc).__name__] += 1
        finally:
            connection.close()


def summary(latencies):
    finite = [v for v in latencies if v != float("inf")]
    failed = len(latencies) - len(finite)
    return {
        "n": len(latencies),
        "p50": percentile(finite, 0.5),
        "p95": percentile(finite, 0.95),
        "max": max(finite) if finite else float("nan"),
        "failed": failed,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--attackers", type=int, default=10)
    parser.add_argument("--no-rate-limit", action="store_true", help="lift LOGIN_RATE_LIMIT (a flood)")
    args = parser.parse_args(argv)
    hostile = Listener()
    hostile.route("/tarpit", tarpit)
    hostile.route("/crafted", ok(CRAFTED, content_type="text/html"))
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/attack.db"
        migrate(database_url)
        env = app_env(database_url, secrets.token_hex(32))
        if args.no_rate_limit:  # a flood: only the per-client cap and the step budget hold it back
            env["LOGIN_RATE_LIMIT"] = "100000 per minute"
        else:
            env.pop("LOGIN_RATE_LIMIT")  # production's own limit, as in the attack that was reported
        server = start_gunicorn(env)
        try:
            parts = urlsplit(server.url)
            log(f"app at {server.url} ({WORKERS} workers); quiet phase {args.duration:.0f} s")
            quiet = healthz_latencies(parts.hostname, parts.port, args.duration)
            outcomes: Counter = Counter()
            deadline = time.monotonic() + args.duration
            targets = [hostile.url("/tarpit"), hostile.url("/crafted")]
            threads = [
                threading.Thread(
                    target=attacker, args=(parts.hostname, parts.port, targets, deadline, outcomes)
                )
                for _ in range(args.attackers)
            ]
            for thread in threads:
                thread.start()
            log(f"attack phase: {args.attackers} attackers, tarpit + crafted 1 MiB page")
            attacked = healthz_latencies(parts.hostname, parts.port, args.duration)
            for thread in threads:
                thread.join(60)
        finally:
            server.stop()
            hostile.close()
    report(args, summary(quiet), summary(attacked), outcomes, len(hostile.requests))


def report(args, quiet, attacked, outcomes, hostile_requests):
    print(f"\n/healthz for an honest client, {args.duration:.0f} s per phase, {args.attackers} attackers\n")
    print("| phase | requests | p50 ms | p95 ms | max ms | failed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in (("quiet", quiet), ("under attack", attacked)):
        figures = " | ".join(f"{row[key]:.1f}" for key in ("p50", "p95", "max"))
        print(f"| {name} | {row['n']} | {figures} | {row['failed']} |")
    ratio = attacked["p50"] / quiet["p50"] if quiet["p50"] else float("nan")
    print(f"\np50 under attack / quiet: {ratio:.1f}x; p95: {attacked['p95'] / quiet['p95']:.1f}x")
    print(
        f"attack sign-ins answered: {dict(outcomes)}; requests reaching the hostile site: {hostile_requests}"
    )


if __name__ == "__main__":
    main()
