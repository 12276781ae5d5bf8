"""Lighthouse scores for the front page, login, a profile and the signed-in home, on Debian's Chromium.

    .venv/bin/python bench/lighthouse.py [--preset mobile|desktop] [--json DIR]

Starts the app on 127.0.0.1 with a throwaway SQLite database and a few posts, signs in
through the local test provider for the signed-in home, then runs the npm `lighthouse`
(bench/lighthouse/, installed by scripts/test.sh with `npm ci`) once per page on
/usr/bin/chromium with the project's no-network flags, and prints a Markdown table.
Targets: accessibility 100, best practices 100, SEO >= 90, performance >= 95.
Not part of the test suite (scores depend on the machine's load).
"""

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.screenshots import serving_seeded_site  # noqa: E402
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.web import WebClient  # noqa: E402

LIGHTHOUSE = ROOT / "bench" / "lighthouse" / "node_modules" / "lighthouse" / "cli" / "index.js"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGETS = {"performance": 95, "accessibility": 100, "best-practices": 100, "seo": 90}
# Chromium switches that keep it off the network, on top of the tests' own flags.
QUIET_CHROMIUM = [
    "--headless=new",
    *CHROMIUM_ARGS,
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=OptimizationHints,MediaRouter,Translate",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--no-pings",
]


def run_lighthouse(url, preset, cookie=None):
    """One Lighthouse run on url; returns the parsed JSON report."""
    command = [
        "node",
        str(LIGHTHOUSE),
        url,
        "--output=json",
        "--output-path=stdout",
        "--quiet",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-path={CHROMIUM}",
        f"--chrome-flags={' '.join(QUIET_CHROMIUM)}",
        "--disable-full-page-screenshot",
    ]
    if preset == "desktop":
        command.append("--preset=desktop")
    if cookie:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603
    if done.returncode != 0:
        raise SystemExit(f"lighthouse failed on {url}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def scores(report):
    """The four category scores, 0 to 100."""
    return {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}


def failed_audits(report):
    """The scored audits that did not pass, for the notes under the table."""
    ids = {
        ref["id"] for name in CATEGORIES for ref in report["categories"][name]["auditRefs"] if ref["weight"]
    }
    audits = report["audits"]
    return sorted(
        f"{audits[i]['id']}: {audits[i]['title']}"
        for i in ids
        if audits[i]["score"] is not None
        and audits[i]["score"] < 1
        and audits[i]["scoreDisplayMode"] != "informative"
    )


def main(argv=None):
    """Start the app, seed it, sign in, run Lighthouse on each page, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("mobile", "desktop"), default="mobile")
    parser.add_argument("--json", type=Path, help="also save each report here")
    args = parser.parse_args(argv)
    if not LIGHTHOUSE.exists():
        raise SystemExit("Lighthouse is missing: run `npm ci --prefix bench/lighthouse`")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with serving_seeded_site() as base_url:
        member = WebClient(base_url)
        assert "Hi, alice!" in member.sign_in_local("alice").text
        cookie = "; ".join(f"{c.name}={c.value}" for c in member.http.cookies)
        pages = [
            ("Front page (visitor)", "/", None),
            ("Login", "/login", None),
            ("Profile (visitor)", "/user/bob", None),
            ("Home (signed in)", "/", cookie),
        ]
        rows, notes = [], []
        for name, path, page_cookie in pages:
            report = run_lighthouse(base_url + path, args.preset, page_cookie)
            if page_cookie:  # the signed-in home loads the post form's script; the front page does not
                requested = report["audits"]["network-requests"]["details"]["items"]
                assert any("compose.js" in item["url"] for item in requested), "not signed in"
            if args.json:
                args.json.mkdir(parents=True, exist_ok=True)
                slug = name.split(" ")[0].lower() + ("-signed-in" if page_cookie else "")
                (args.json / f"{slug}-{args.preset}.json").write_text(json.dumps(report))
            rows.append((name, scores(report)))
            notes += [f"{name}: {audit}" for audit in failed_audits(report)]
    print(f"Lighthouse {report['lighthouseVersion']}, {args.preset}, Chromium at {CHROMIUM}\n")
    print("| Page | Performance | Accessibility | Best practices | SEO |")
    print("|---|---|---|---|---|")
    for name, score in rows:
        print(f"| {name} | " + " | ".join(str(score[c]) for c in CATEGORIES) + " |")
    print("| Target | ≥ 95 | 100 | 100 | ≥ 90 |")
    for note in notes:
        print(f"- {note}")
    missed = [n for n, s in rows for c in CATEGORIES if s[c] < TARGETS[c]]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
