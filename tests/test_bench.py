"""The benchmark harness (bench/) keeps working: the ceiling's template, and a smoke run end to end."""

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.ceiling import create_app, page_template

ROOT = Path(__file__).resolve().parent.parent
POST = (
    '<article class="post" id="post-{n}"><a href="/user/u{n}">u{n} &amp; co</a>\r\n'
    '<time datetime="2030-01-0{n}">{n} days ago</time>'
    "<p>Body {n} &lt;b&gt; &#34;q&#34; &#39;s&#39;</p></article>"
)


def sample_page(posts=3):
    """A page shaped like the index: a layout around posts that share one markup."""
    articles = "\n".join(POST.format(n=n) for n in range(1, posts + 1))
    return f'<!doctype html>\n<h1>Hi, {{{{ "not" }}}} a template!</h1>\n{articles}\n<nav>Older</nav>\n'


def test_ceiling_template_renders_the_page_byte_for_byte(tmp_path):
    page = sample_page()
    page_file = tmp_path / "page.html"
    page_file.write_bytes(page.encode())
    app = create_app(str(page_file))
    assert app.test_client().get("/").data == page.encode()


def test_ceiling_template_loops_over_the_posts_data():
    source, data = page_template(sample_page())
    assert source.count("{% for post in posts %}") == 1
    assert [post[0] for post in data] == ["post-1", "post-2", "post-3"]
    # Unescaped data (the template escapes it again, as the app's does).
    assert data[0][2] == "u1 & co" and data[0][5] == "Body 1 <b> \"q\" 's'"


def test_ceiling_refuses_posts_of_different_markup():
    page = sample_page().replace("<p>Body 2", "<div>Body 2", 1)
    with pytest.raises(ValueError, match="one markup"):
        page_template(page)


def test_attack_benchmark_finds_what_it_uses_in_run_py():
    attack = importlib.import_module("bench.attack")
    assert callable(attack.start_gunicorn) and callable(attack.app_env)


@pytest.mark.e2e
def test_smoke_benchmark_produces_every_figure(tmp_path):
    results_file = tmp_path / "results.json"
    command = [sys.executable, "bench/run.py", "--smoke", "--no-postgres", "--json", str(results_file)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)  # noqa: S603
    assert run.returncode == 0, run.stderr[-4000:]
    results = json.loads(results_file.read_text())
    (sqlite,) = results["results"]
    for figures in (*sqlite["index"].values(), *sqlite["ceiling"]["index"].values()):
        assert figures["requests"] > 0 and figures["errors"] == 0
        assert figures["slices"] == 2  # app and ceiling took turns (ABBA), not one after the other
        assert figures["p50_ms"] > 0 and figures["p99_ms"] >= figures["p50_ms"] and figures["rps"] > 0
    assert sqlite["ceiling"]["same_bytes"] and sqlite["ceiling"]["page_bytes"] == sqlite["page_bytes"]
    assert set(sqlite["ratio"]) == {"1", "16"}
    growth = sqlite["growth"]
    assert set(growth) == {"index_first", "index_oldest", "quiet_first", "prolific_first", "prolific_last"}
    for row in growth.values():
        assert row["p50_ms"] > 0 and row["first_view"] > 0 and isinstance(row["repeat_view"], int)
        assert row["first_view_sql_ms"] > 0 and row["repeat_view_sql_ms"] >= 0
        assert ("ratio" in row) == bool(row["baseline"])
    for kind in ("cold", "warm"):
        assert sqlite["signin"][kind]["app_p50_ms"] > 0
    for probe in ("without_oidc", "with_oidc"):
        assert sqlite["rss"][probe]["after_load_mb"] >= sqlite["rss"][probe]["at_start_mb"] > 0
    assert len(results["targets"]) == 5  # ratio, three growth rows, warm sign-in (RSS is PostgreSQL's)
    assert "Targets:" in run.stdout and "| Index (signed in) | SQLite |" in run.stdout


def test_a_worker_gone_while_its_status_is_read_counts_as_stopped(monkeypatch):
    """/proc/<pid>/stat can vanish between opening and reading it (ESRCH): the process has exited."""
    run = importlib.import_module("bench.run")

    def gone(self, *args, **kwargs):
        raise ProcessLookupError(3, "No such process")

    assert run.running(os.getpid())
    monkeypatch.setattr(run.Path, "read_text", gone)
    assert not run.running(os.getpid())


@pytest.mark.e2e
def test_a_master_killed_after_a_hung_shutdown_takes_its_workers_with_it():
    """kill_with_workers: the worker that kept its master waiting is killed too, never left orphaned."""
    from tests.support.workers import kill_with_workers

    run = importlib.import_module("bench.run")
    script = (
        "import subprocess, sys, time\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(worker.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    master = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = int(master.stdout.readline())
    assert run.running(worker)
    kill_with_workers(master)
    assert master.poll() is not None
    deadline = time.monotonic() + 5
    while run.running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not run.running(worker)
