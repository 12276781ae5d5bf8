"""Every page in a real browser: no console errors or CSP violations, usable on a phone, profiles."""

import re

import pytest
from playwright.sync_api import expect

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def visit_all_pages(site, page, live_server):
    """Walk through every page a person meets; yields (name, page) at each."""
    page.goto("/login")
    yield "login"
    page.locator("summary", has_text="Local test provider").click()
    page.get_by_label("Your Local test provider username").fill("newcomer")
    page.locator("details[open]").get_by_role("button", name="Continue").click()
    page.wait_for_url("**/dev-openid/approve")
    yield "approve"
    page.locator("input[name=nickname]").fill("")
    page.locator("input[name=email]").fill("")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url("**/login/nickname")
    yield "nickname step"
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(live_server.url + "/")
    page.get_by_role("textbox", name="What’s on your mind?").fill(
        "A post long enough to wrap on a phone " * 3
    )
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator(".post-body").first).to_contain_text("A post long enough")  # the new page is in
    yield "home"
    page.get_by_role("navigation", name="Main").get_by_role("link", name="user-newcomer").click()
    page.wait_for_url("**/user/user-newcomer")
    yield "profile"
    page.get_by_role("link", name="Edit profile").click()
    page.wait_for_url("**/profile/edit")
    yield "edit profile"


def assert_no_sideways_scrolling(page, name, width):
    """The page is no wider than the screen."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} page scrolls sideways by {overflow}px at {width}px"


def test_no_console_errors_or_csp_violations_on_any_page(site, page, live_server):
    """Also the desktop width of the sideways-scrolling check below: the same walk in the same window."""
    seen = []
    for name in visit_all_pages(site, page, live_server):
        seen.append(name)
        assert_no_sideways_scrolling(page, name, 1280)
    assert seen == ["login", "approve", "nickname step", "home", "profile", "edit profile"]
    # The `site` fixture fails the test if the browser reported any problem on the way.


def test_the_problem_watcher_catches_csp_violations_and_script_errors(site, page):
    page.goto("/login")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<div style=\"color: red\">x</div>')")
    page.evaluate("setTimeout(() => { throw new Error('boom'); }, 0)")
    page.wait_for_timeout(200)
    found = list(site.problems)
    site.problems.clear()  # expected here; do not fail the test on them
    assert any("CSP violation: style-src-attr" in p for p in found), found
    assert any("boom" in p for p in found), found


def test_error_pages_look_like_the_site(site, page):
    response = page.goto("/no/such/page")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_role("link", name="Go to the home page")).to_be_visible()
    # Chromium logs a failed load for a 404 document itself; anything else is a real problem.
    site.problems[:] = [p for p in site.problems if "status of 404" not in p]


@pytest.mark.parametrize("width", [320, 390])  # 1280: in the console-error walk above
def test_pages_fit_the_screen_without_sideways_scrolling(site, live_server, width):
    page = site.new_page(**{**PHONE, "viewport": {"width": width, "height": 800}})
    for name in visit_all_pages(site, page, live_server):
        assert_no_sideways_scrolling(page, name, width)


def test_anonymous_visitor_reads_a_profile_and_the_owner_edits_it(site, page, live_server):
    site.sign_in(page, "alice")
    page.get_by_role("textbox", name="What’s on your mind?").fill("Hello from alice")
    page.get_by_role("button", name="Post", exact=True).click()

    visitor = site.new_page()
    visitor.goto("/user/alice")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("alice")
    expect(visitor.locator(".chip")).to_have_text(["Local test provider"])
    expect(visitor.locator(".post-body")).to_have_text(["Hello from alice"])
    expect(visitor.get_by_text("Joined")).to_be_visible()
    expect(visitor.get_by_role("link", name="Edit profile")).to_have_count(0)
    expect(visitor.get_by_text("alice@example.test")).to_have_count(0)

    page.goto("/user/alice")
    page.get_by_role("link", name="Edit profile").click()
    page.get_by_role("textbox", name="Nickname").fill("alice-w")
    page.get_by_role("textbox", name="Email (optional)").fill("not an email")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#email-error")).to_contain_text("does not look like an email address")
    expect(page.get_by_role("textbox", name="Nickname")).to_have_value("alice-w")
    page.get_by_role("textbox", name="Email (optional)").fill("alice@example.org")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(r"/user/alice-w$"))
    expect(page.locator("li.flash.flash-success")).to_have_text("Your profile is saved.")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("alice-w")
