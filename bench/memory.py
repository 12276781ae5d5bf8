"""Worker memory in a minute: bench/run.py's memory probe alone, on a small seed, with a look inside.

    .venv/bin/python bench/memory.py [--postgres-url URL | --sqlite] [--repeat N] [--detail DIR]

Seeds bench/run.py's quick data set, signs in once (the benchmark's user exists before its probes),
then runs bench/run.py's `rss_probe` (the same load, the same VmHWM reading) without and with an
OpenID Connect provider, side by side, `--repeat` times, and prints each figure. With `--detail DIR`,
each worker writes what it holds when it exits (a gunicorn `worker_exit` hook added for this script
only): its modules, its mappings' resident sizes (/proc/self/smaps) and its VmHWM and VmRSS, as JSON
in DIR. Not part of the test suite; figures are for comparing changes on one machine.
"""

import argparse
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402

DETAIL_CONFIG = '''"""gunicorn.conf.py plus hooks writing what each worker holds (bench/memory.py)."""
import json, os, sys
from pathlib import Path

exec(Path("gunicorn.conf.py").read_text())
_production_post_fork = post_fork


def _mappings():
    """Resident kB per mapped file ([anon], [heap], each .so), from /proc/self/smaps."""
    sizes, name = {}, None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and ":" not in head[0]:
            name = head[5] if len(head) > 5 else "[anon]"
        elif head[0] == "Rss:":
            sizes[name] = sizes.get(name, 0) + int(head[1])
    return sizes


def post_fork(server, worker):
    """gunicorn.conf.py's own post_fork; with MEMORY_TRACE, trace allocations from the fork on."""
    _production_post_fork(server, worker)
    if os.environ.get("MEMORY_TRACE"):
        import tracemalloc

        tracemalloc.start(int(os.environ["MEMORY_TRACE"]))


def post_worker_init(worker):
    """With MEMORY_TRACE, note what the worker holds once the app is loaded."""
    if os.environ.get("MEMORY_TRACE"):
        import tracemalloc

        worker.memory_snapshot = tracemalloc.take_snapshot()


def _traced(worker):
    """What grew since the app was loaded, by allocation site (empty without MEMORY_TRACE)."""
    import tracemalloc

    if not tracemalloc.is_tracing():
        return {}
    end = tracemalloc.take_snapshot()
    grown = end.compare_to(worker.memory_snapshot, "traceback")
    return {
        "traced_at_start_kb": sum(s.size for s in worker.memory_snapshot.statistics("filename")) // 1024,
        "traced_at_exit_kb": sum(s.size for s in end.statistics("filename")) // 1024,
        "grown": [[s.size_diff // 1024, s.count_diff, s.traceback.format()] for s in grown[:60]],
        "by_file_at_start": [
            [s.size // 1024, str(s.traceback)] for s in worker.memory_snapshot.statistics("filename")[:80]
        ],
    }


def worker_exit(server, worker):
    """Write the worker's peak and current RSS, modules, mappings (and traces) as JSON."""
    status = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    detail = {
        "pid": os.getpid(),
        "VmHWM": status["VmHWM"].strip(),
        "VmRSS": status["VmRSS"].strip(),
        "modules": sorted(sys.modules),
        "mappings_kb": _mappings(),
        **_traced(worker),
    }
    Path(os.environ["MEMORY_DETAIL_DIR"], f"{os.environ['MEMORY_DETAIL_TAG']}-{os.getpid()}.json").write_text(
        json.dumps(detail, indent=1)
    )
'''


def add_detail_hook(detail, trace=0):
    """Make bench/run.py's gunicorn servers run with the worker_exit hook writing into `detail`."""
    config = Path(detail) / "gunicorn-detail.conf.py"
    config.write_text(DETAIL_CONFIG)

    class DetailedApp(run.GunicornApp):
        """bench/run.py's gunicorn with the detail hooks and where to write."""

        def __init__(self, env, workers=1, bind="127.0.0.1:0"):
            tag = "oidc" if any(key.startswith("OIDC_") for key in env) else "plain"
            extra = {"MEMORY_DETAIL_DIR": str(detail), "MEMORY_DETAIL_TAG": tag}
            if trace:
                extra["MEMORY_TRACE"] = str(trace)
            super().__init__({**env, **extra}, workers, bind)
            self.command[self.command.index("gunicorn.conf.py")] = str(config)

    run.GunicornApp = DetailedApp


def main(argv=None):
    """Seed, sign in once, probe without and with OIDC; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_DATABASE_URL", run.DEFAULT_POSTGRES))
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--detail", help="a folder for each worker's modules and mappings")
    parser.add_argument(
        "--trace", type=int, default=0, help="with --detail: tracemalloc frames (what grew in the load)"
    )
    args = parser.parse_args(argv)
    secret = "memory-probe" * 6
    provider, provider_url = run.start_provider()
    try:
        with tempfile.TemporaryDirectory(prefix="microblog-memory-") as tmp:
            url = f"sqlite:///{tmp}/bench.db" if args.sqlite else run.fresh_postgres(args.postgres_url)
            run.migrate(url)
            run.seed(url, run.QUICK)
            pages = run.growth_pages(url)
            with run.gunicorn(run.app_env(url, secret)) as server:
                run.sign_in(server, provider_url, url, 1)  # creates the user, as the full run has
            if args.detail:
                add_detail_hook(args.detail, args.trace)
            for _ in range(args.repeat):
                with ThreadPoolExecutor(2) as pool:
                    futures = {
                        key: pool.submit(
                            run.rss_probe, url, secret, provider_url, pages, run.QUICK, key == "with_oidc"
                        )
                        for key in ("without_oidc", "with_oidc")
                    }
                figures = {key: future.result() for key, future in futures.items()}
                print(json.dumps(figures))
    finally:
        provider.terminate()
        provider.wait()
        run.wait_for_stopped()


if __name__ == "__main__":
    main()
