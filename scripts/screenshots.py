"""Save screenshots of the main pages at desktop and phone sizes into docs/screenshots/.

Usage: .venv/bin/python scripts/screenshots.py [--out DIR]

Starts the app on 127.0.0.1 with a throwaway SQLite database, seeds a few
users and posts, and drives Chromium's headless shell (Debian's chromium-headless-shell) with
Playwright through the real sign-in with the local test provider.
"""

import argparse
import contextlib
import logging
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.database import ensure_schema  # noqa: E402
from app.extensions import db  # noqa: E402
from app.main.posts import count_posts  # noqa: E402
from app.models import Identity, Post, User, UserSession  # noqa: E402
from devproviders.mount import mount  # noqa: E402
from tests.support.chromium import launch_chromium  # noqa: E402
from tests.support.web import LiveServer  # noqa: E402

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}, "device_scale_factor": 1},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
LOCAL_PROVIDER = "Local test provider"
SEED_POSTS = [
    ("carol", 3, "Morning run done before the rain. The river path is lovely this time of year."),
    (
        "bob",
        25,
        "Tip: the sign-in page works with just the keyboard. Tab to your provider, Enter, type, Enter.",
    ),
    ("alice", 70, "Finally moved my notes off three different apps. One place, short posts, done."),
    ("carol", 60 * 5, "Does anyone have a good recipe for rye bread? Mine keeps coming out flat."),
    (
        "bob",
        60 * 26,
        "Reading about OpenID today: sign in with an account you already have, no new password.",
    ),
]


def seed(app, base_url):
    """Three users with local-provider identities and a few posts spread over a day."""
    now = datetime.now(UTC)
    with app.app_context():
        users = {}
        for name, days in (("alice", 40), ("bob", 120), ("carol", 9)):
            user = User(nickname=name, email=f"{name}@example.test", created_at=now - timedelta(days=days))
            user.identities.append(Identity(issuer="openid2", subject=f"{base_url}/dev-openid/{name}"))
            db.session.add(user)
            users[name] = user
        # alice also signs in with the local OpenID Connect provider, and from her phone.
        users["alice"].identities.append(Identity(issuer=f"{base_url}/dev-oidc", subject="alice"))
        db.session.flush()
        db.session.add(
            UserSession(
                user_id=users["alice"].id,
                created_at=now - timedelta(days=3),
                last_seen_at=now - timedelta(hours=2),
                authenticated_at=now - timedelta(days=3),
                expires_at=now + timedelta(days=27),
                user_agent="Firefox on Android",
                method="Local test provider (OpenID Connect)",
            )
        )
        for name, minutes, body in SEED_POSTS:
            db.session.add(Post(author=users[name], body=body, timestamp=now - timedelta(minutes=minutes)))
            count_posts(users[name].id, 1)
        db.session.commit()


def sign_in(page, base_url, username, **profile):
    """Sign in through the local test provider as a person would, stopping wherever the site lands."""
    page.goto(f"{base_url}/login")
    page.locator("summary", has_text=LOCAL_PROVIDER).click()
    page.get_by_label(f"Your {LOCAL_PROVIDER} username").fill(username)
    page.locator("details[open] button[name=provider]").click()
    for field, value in profile.items():
        page.locator(f"input[name={field}]").fill(value)
    page.locator("#approve").click()
    page.wait_for_load_state()


def shoot(browser, base_url, out_dir, size):
    """Front page, login, home, profile, account and the nickname step at one size, light; two pages dark."""
    context = browser.new_context(**VIEWPORTS[size])
    page = context.new_page()
    page.goto(f"{base_url}/")
    page.screenshot(path=out_dir / f"front-{size}.png")
    page.goto(f"{base_url}/login")
    page.screenshot(path=out_dir / f"login-{size}.png")
    sign_in(page, base_url, "alice")
    page.screenshot(path=out_dir / f"home-{size}.png")
    page.goto(f"{base_url}/user/alice")
    page.screenshot(path=out_dir / f"profile-{size}.png")
    page.goto(f"{base_url}/account")
    page.screenshot(path=out_dir / f"account-{size}.png", full_page=True)
    context.close()

    context = browser.new_context(**VIEWPORTS[size])
    page = context.new_page()
    sign_in(page, base_url, f"7656119{len(size)}", nickname="", email="")
    page.screenshot(path=out_dir / f"nickname-step-{size}.png")
    context.close()

    context = browser.new_context(color_scheme="dark", **VIEWPORTS[size])
    page = context.new_page()
    page.goto(f"{base_url}/")
    page.screenshot(path=out_dir / f"front-dark-{size}.png")
    sign_in(page, base_url, "bob")
    page.screenshot(path=out_dir / f"home-dark-{size}.png")
    context.close()


@contextlib.contextmanager
def serving_seeded_site():
    """A testing site with the seeded people and posts, served on loopback beside its local providers.

    Yields the base URL. Used for the screenshots and by bench/lighthouse.py.
    """
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer()
        settings = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/site.db", "LOCAL_PROVIDERS_URL": server.url}
        app = create_app("testing", settings)
        with app.app_context():
            ensure_schema()
        server.serve(mount(app)).start()  # the local test providers beside the site, as run.py serves them
        try:
            seed(app, server.url)
            yield server.url
        finally:
            server.stop()


def main(argv=None):
    """Start the app, seed it, take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with serving_seeded_site() as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for size in VIEWPORTS:
            shoot(browser, base_url, args.out, size)
        browser.close()
    for path in sorted(args.out.glob("*.png")):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
