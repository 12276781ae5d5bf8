"""The safe-redirect check against Django's and Flask-Security-Too's hostile lists."""

import pytest

from app.redirects import safe_next

HOSTILE = [
    "//evil.com",
    "///evil.com",
    "////evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "\\/evil.com",
    "https:evil.com",
    "http:/\\/evil.com",
    "http://evil.com",
    "https://evil.com/path",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " //evil.com",
    "\t//evil.com",
    "\n//evil.com",
    "\x08//evil.com",
    " /\\evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "http://testserver\\@evil.com",
    "//testserver@evil.com",
    "evil.com",
    "data:text/html,<script>alert(1)</script>",
    "",
    None,
    "/" + "a" * 3000,
    "/ /evil.com",
    "/index ",
]

SAFE = ["/", "/index", "/user/alice", "/index?page=2", "/user/alice#posts", "/a/b/../c"]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_targets_are_refused(target):
    assert safe_next(target) is None


@pytest.mark.parametrize("target", SAFE)
def test_same_site_paths_pass(target):
    assert safe_next(target) == target


@pytest.mark.parametrize("target", [t for t in HOSTILE if t])
def test_login_never_redirects_off_site(browser, live_server, target):
    """Whatever `next` says, the end of sign-in is on this site."""
    page = browser.sign_in_local("alice", next_url=target)
    assert page.url.startswith(live_server.url + "/"), page.url
    assert "Hi, alice!" in page.text
