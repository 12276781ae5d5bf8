"""The account page in Chromium: link a second provider, sign in with it, remove one, sign out a device."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LOCAL_OIDC_LABEL = "Local test provider (OpenID Connect)"


def approve_oidc(page, username):
    expect(page).to_have_url(re.compile(r"/dev-oidc/authorize\?"))
    page.locator("input[name=username]").fill(username)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()


def test_link_a_second_provider_sign_in_with_it_remove_one_and_sign_out_a_device(site, page, live_server):
    site.sign_in(page, "alice", nickname="alice")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, alice!")
    page.get_by_role("link", name="Account").click()
    expect(page).to_have_url(live_server.url + "/account")
    methods = page.locator("#method-list li.method")
    expect(methods).to_have_count(1)
    expect(page.get_by_text("Your only method: add another before removing it.")).to_be_visible()

    # Link the local OpenID Connect provider: the same buttons as the login page, in connect mode.
    page.get_by_role("button", name=f"Add {LOCAL_OIDC_LABEL}").click()
    approve_oidc(page, "alice-oidc")
    expect(page).to_have_url(live_server.url + "/account")
    expect(page.locator("li.flash.flash-success")).to_have_text(
        f"{LOCAL_OIDC_LABEL} was added: you can now sign in with it."
    )
    expect(methods).to_have_count(2)
    expect(methods.locator(".method-label")).to_have_text(["Local test provider", LOCAL_OIDC_LABEL])

    # Another browser signs in with the new method and lands on the same account.
    phone = site.new_page(viewport={"width": 390, "height": 844})
    phone.goto("/login")
    phone.get_by_role("button", name=f"Sign in with {LOCAL_OIDC_LABEL}").click()
    approve_oidc(phone, "alice-oidc")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Hi, alice!")

    # Both devices are listed; this one is marked. Sign the other one out.
    page.reload()
    devices = page.locator("#device-list li.device")
    expect(devices).to_have_count(2)
    expect(page.locator("li.device.this-device .badge")).to_have_text("This device")
    page.locator("li.device:not(.this-device)").get_by_role("button", name=re.compile("^Sign out")).click()
    expect(page.locator("li.flash.flash-success")).to_contain_text("was signed out.")
    expect(devices).to_have_count(1)
    phone.goto("/profile/edit")  # a page for signed-in people only (the front page is public)
    expect(phone).to_have_url(re.compile(r"/login\?next="))

    # Remove the first method; the other one stays and is now the only one.
    page.get_by_role("button", name="Remove Local test provider", exact=True).click()
    expect(page.locator("li.flash.flash-success")).to_have_text(
        "Local test provider was removed: it no longer signs in to this account."
    )
    expect(methods).to_have_count(1)
    expect(methods.locator(".method-label")).to_have_text([LOCAL_OIDC_LABEL])
    expect(page.locator("#event-list li.event").first).to_contain_text("Sign-in method removed")
