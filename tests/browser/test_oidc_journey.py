"""OpenID Connect sign-in in a real browser, through the local OpenID Connect provider."""

import re

import pytest
from playwright.sync_api import expect

LOCAL_OIDC = "Sign in with Local test provider (OpenID Connect)"


def approve(page, **profile):
    expect(page).to_have_url(re.compile(r"/dev-oidc/authorize\?"))
    for field, value in profile.items():
        page.locator(f"input[name={field}]").fill(value)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("javascript", [True, False])
def test_oidc_sign_in_keeps_remember_me_and_next(site, live_server, javascript):
    page = site.new_page(viewport={"width": 1280, "height": 800}, java_script_enabled=javascript)
    page.goto("/login?next=/index%3Fbefore%3D1764585780123456-1")
    page.get_by_label("Keep me signed in").check()
    page.get_by_role("button", name=LOCAL_OIDC).click()
    approve(page, username="olive", nickname="olive")
    expect(page).to_have_url(live_server.url + "/index?before=1764585780123456-1")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, olive!")

    page = site.restart_browser(page)  # remember-me: the remember cookie outlives the browser
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, olive!")


def test_cancelling_at_the_oidc_provider_returns_to_login_with_a_message(site, page):
    page.goto("/login")
    page.get_by_role("button", name=LOCAL_OIDC).click()
    expect(page).to_have_url(re.compile(r"/dev-oidc/authorize\?"))
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("li.flash.flash-error")).to_have_text(
        "Signing in with Local test provider (OpenID Connect) was cancelled."
    )
