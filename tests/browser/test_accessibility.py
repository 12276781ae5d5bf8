"""axe-core on every page and state of the site, at desktop and phone widths, in light and dark schemes."""

import re

import pytest
from flask import abort
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, LOCAL_PROVIDER, PHONE, axe_violations

LOCAL_OIDC = "Sign in with Local test provider (OpenID Connect)"
SCREENS = {"desktop": DESKTOP, "phone": PHONE}
SCHEMES = ("light", "dark")


@pytest.fixture
def app(app):
    """The test app plus a route that shows the real error page for any status (429 and 500 included)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/test-error/<int:code>")
    def show_error(code):
        abort(code)

    return app


class Audit:
    """Runs axe at each state a journey reaches, in the light and the dark scheme, and keeps every violation.

    The scheme is switched on the page itself (the same DevTools media emulation a context's
    `color_scheme` sets), so one journey reaches each state once and axe checks it in both schemes.
    """

    def __init__(self):
        self.violations = []
        self.states = {scheme: [] for scheme in SCHEMES}

    def check(self, page, state):
        page.wait_for_load_state()
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
            self.states[scheme].append(state)
            self.violations += axe_violations(page, f"{state} ({scheme})")


def member_states(page, audit, live_server):
    """A new member's journey: approval, nickname step, home, posting, profile, edit, sign-out pages."""
    page.goto("/login")
    page.locator("summary", has_text=LOCAL_PROVIDER).click()
    audit.check(page, "login, username field open")
    page.get_by_label(f"Your {LOCAL_PROVIDER} username").fill("ada")
    page.locator("details[open]").get_by_role("button", name="Continue").click()
    page.wait_for_url("**/dev-openid/approve")
    audit.check(page, "OpenID 2.0 local provider approval")
    page.locator("input[name=nickname]").fill("")
    page.locator("input[name=email]").fill("")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url("**/login/nickname")
    audit.check(page, "nickname step")
    page.get_by_role("textbox", name="Nickname").fill("no spaces please")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("#nickname-error")).to_be_visible()
    audit.check(page, "nickname step with an error")
    page.get_by_role("textbox", name="Nickname").fill("ada")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("li.flash.flash-success")).to_be_visible()
    audit.check(page, "home with the welcome message")
    body = page.get_by_role("textbox", name="What’s on your mind?")
    body.fill("x" * 130)
    audit.check(page, "home, counter near the limit")
    body.fill("x" * 141)
    audit.check(page, "home, counter over the limit")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator("#body-error")).to_be_visible()
    audit.check(page, "home with a refused post")
    body.fill("Accessible by design")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator("li.flash.flash-success")).to_have_text("Your post is live!")
    audit.check(page, "home with a post and a success message")
    page.goto("/user/ada")
    audit.check(page, "own profile")
    page.get_by_role("link", name="Edit profile").click()
    audit.check(page, "edit profile")
    page.get_by_role("textbox", name="Email (optional)").fill("not an email")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#email-error")).to_be_visible()
    audit.check(page, "edit profile with an error")
    page.get_by_role("textbox", name="Email (optional)").fill("ada@example.org")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("li.flash.flash-success")).to_be_visible()
    audit.check(page, "profile saved")
    page.goto("/account")
    audit.check(page, "account page")
    page.goto("/account/confirm?next=/account")
    audit.check(page, "confirm it's you")
    page.goto("/account/delete")
    audit.check(page, "delete account")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#nickname-error")).to_be_visible()
    audit.check(page, "delete account with a wrong nickname")
    page.goto("/logout/everywhere")
    audit.check(page, "sign out everywhere confirmation")
    page.goto("/logout")
    audit.check(page, "sign-out page")
    page.goto("/no/such/page")
    audit.check(page, "404 signed in")
    page.goto("/")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.locator("li.flash.flash-info")).to_be_visible()
    audit.check(page, "front page after signing out")


def visitor_states(page, audit):
    """What a visitor meets: front page, login and its errors, profiles, error pages, the OIDC provider."""
    page.goto("/")
    audit.check(page, "front page")
    page.goto("/?page=999")
    audit.check(page, "front page past the end")
    page.goto("/login")
    audit.check(page, "login")
    page.get_by_role("textbox", name="Your OpenID").fill("http://127.0.0.1:9/nobody")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("li.flash.flash-error")).to_be_visible()
    audit.check(page, "login with an unreachable address")
    page.goto("/profile/edit")
    expect(page.locator("li.flash.flash-info")).to_be_visible()
    audit.check(page, "login after asking for a private page")
    page.goto("/user/ada")
    audit.check(page, "profile seen by a visitor")
    page.goto("/user/nobody-at-all")
    audit.check(page, "missing profile")
    page.goto("/no/such/page")
    audit.check(page, "404")
    page.goto("/login/nickname/cancel")
    audit.check(page, "405")
    for code in (400, 429, 500):
        page.goto(f"/test-error/{code}")
        audit.check(page, str(code))
    page.goto("/logout")
    audit.check(page, "sign-out page for a visitor")
    page.goto("/login")
    page.get_by_role("button", name=LOCAL_OIDC).click()
    expect(page).to_have_url(re.compile(r"/dev-oidc/authorize\?"))
    audit.check(page, "OpenID Connect local provider approval")


@pytest.mark.browser
@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_every_page_and_state_has_no_axe_violations(site, live_server, screen):
    """Each state at this width, in the light and the dark scheme."""
    audit = Audit()
    member = site.new_page(axe=True, **SCREENS[screen])
    member_states(member, audit, live_server)
    visitor = site.new_page(axe=True, **SCREENS[screen])
    visitor_states(visitor, audit)
    for scheme in SCHEMES:
        assert len(audit.states[scheme]) >= 30, scheme
    assert audit.violations == []
    # Chromium logs a failed load for each error-status document; anything else is a real problem.
    site.problems[:] = [p for p in site.problems if not re.search(r"status of (400|404|405|429|500)", p)]


@pytest.mark.browser
def test_the_axe_check_finds_a_planted_violation(site, live_server):
    """Guard for the guard: axe is really loaded and really reports what it finds."""
    page = site.new_page(axe=True, **DESKTOP)
    page.goto("/login")
    page.evaluate("document.querySelector('#openid').removeAttribute('id')")  # the label now labels nothing
    found = axe_violations(page, "login")
    assert any(line.startswith("login: label") for line in found), found


@pytest.mark.browser
def test_dark_scheme_really_is_dark(site, live_server):
    light = site.new_page(color_scheme="light", **DESKTOP)
    dark = site.new_page(color_scheme="dark", **DESKTOP)
    colours = []
    for page in (light, dark):
        page.goto("/")
        colours.append(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    assert colours == ["rgb(243, 245, 249)", "rgb(15, 20, 28)"]
