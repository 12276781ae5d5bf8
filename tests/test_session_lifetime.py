"""Without remember-me the session ends with the browser; with it, it outlives a restart."""

from tests.support.web import SIGNED_IN_ONLY, WebClient


def restart_browser(browser, base_url):
    """A new browser with the old one's lasting cookies only (what closing a browser does)."""
    reopened = WebClient(base_url)
    for cookie in browser.http.cookies:
        if cookie.expires is not None:
            reopened.http.cookies.set_cookie(cookie)
    return reopened


def test_without_remember_me_the_session_cookie_ends_with_the_browser(browser, live_server):
    browser.sign_in_local("alice")
    cookies = {c.name: c for c in browser.http.cookies}
    assert cookies["session"].expires is None
    assert "remember_token" not in cookies
    assert "Hi, alice!" in browser.get("/").text
    reopened = restart_browser(browser, live_server.url)
    page = reopened.get(SIGNED_IN_ONLY)
    assert page.url.startswith(live_server.url + "/login")


def test_with_remember_me_the_sign_in_survives_a_browser_restart(browser, live_server):
    browser.sign_in_local("alice", remember=True)
    cookies = {c.name: c for c in browser.http.cookies}
    assert cookies["session"].expires is not None
    assert cookies["remember_token"].expires is not None
    reopened = restart_browser(browser, live_server.url)
    assert "Hi, alice!" in reopened.get("/").text
