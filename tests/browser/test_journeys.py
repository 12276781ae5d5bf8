"""The main journeys in a real browser: sign-in, remember-me, nickname step, posting, logout."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import LOCAL_PROVIDER


def flash(page, category):
    return page.locator(f"li.flash.flash-{category}")


def test_anonymous_visitor_gets_the_front_page_and_a_way_to_sign_in(site, page, live_server):
    site.sign_in(page, "alice")
    page.get_by_role("textbox", name="What’s on your mind?").fill("Hello, visitors")
    page.get_by_role("button", name="Post", exact=True).click()

    visitor = site.new_page(viewport={"width": 1280, "height": 800})
    visitor.goto("/")
    expect(visitor).to_have_url(live_server.url + "/")  # no redirect
    expect(visitor.locator("li.flash")).to_have_count(0)  # no "Please sign in" message
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Welcome to Microblog")
    expect(visitor.locator(".post-body")).to_have_text(["Hello, visitors"])
    expect(visitor.get_by_role("textbox")).to_have_count(0)
    visitor.get_by_role("link", name="Sign in to post").click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Sign in to Microblog")


def test_a_private_page_sends_a_visitor_to_login_with_a_message(page, live_server):
    page.goto("/profile/edit")
    expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)profile(%2F|/)edit$"))
    expect(flash(page, "info")).to_have_text("Please sign in to see this page.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Microblog")


def test_sign_in_by_clicking_the_provider_and_typing_a_username(site, page, live_server):
    page.goto("/login")
    username = page.get_by_label(f"Your {LOCAL_PROVIDER} username")
    expect(username).to_be_hidden()
    page.locator("summary", has_text=LOCAL_PROVIDER).click()
    expect(username).to_be_visible()
    expect(username).to_be_focused()  # the inline field, not window.prompt
    username.fill("alice")
    page.locator("details[open]").get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/dev-openid/approve$"))
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, alice!")
    expect(page.locator("#logout")).to_be_visible()


def test_remember_me_keeps_you_signed_in_after_a_browser_restart(site, page, live_server):
    site.sign_in(page, "alice", remember=True)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, alice!")
    page = site.restart_browser(page)
    page.goto("/")
    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, alice!")


def test_without_remember_me_a_browser_restart_signs_you_out(site, page):
    site.sign_in(page, "alice")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, alice!")
    page.reload()  # the same browser keeps the session
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, alice!")
    page = site.restart_browser(page)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Microblog")
    expect(page.locator("#logout")).to_have_count(0)


def test_first_sign_in_without_nickname_goes_through_the_nickname_step(site, page, live_server):
    site.sign_in(page, "76561197960287930", nickname="", email="")
    expect(page).to_have_url(live_server.url + "/login/nickname")
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your nickname")
    field = page.get_by_role("textbox", name="Nickname")
    expect(field).to_have_value("user-76561197960287930")
    expect(field).to_be_focused()
    field.fill("no spaces please")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("#nickname-error")).to_contain_text("Use letters, digits")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("no spaces please")
    field.fill("gabe")
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, gabe!")
    expect(flash(page, "success")).to_have_text("Welcome to Microblog, gabe!")


def test_cancelling_the_nickname_step_returns_to_login(site, page):
    site.sign_in(page, "nobody", nickname="", email="")
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(flash(page, "info")).to_have_text("Sign-in cancelled. No account was created.")


def test_posting_including_a_post_that_is_too_long(site, page):
    site.sign_in(page, "alice")
    body = page.get_by_role("textbox", name="What’s on your mind?")
    counter = page.locator("#body-count")
    expect(counter).to_have_text("140 characters left")

    body.fill("Hello from a real browser <b>not bold</b>")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(flash(page, "success")).to_have_text("Your post is live!")
    first = page.locator("article.post").first
    expect(first.locator(".post-body")).to_have_text("Hello from a real browser <b>not bold</b>")
    expect(first.locator(".post-body b")).to_have_count(0)  # escaped, not markup
    expect(first.locator(".post-author")).to_have_text("alice")

    too_long = "x" * 141
    body.fill(too_long)
    expect(counter).to_have_text("1 character too many")
    expect(counter).to_have_class(re.compile("is-over"))
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator("#body-error")).to_have_text(
        "Your post is 141 characters long; the limit is 140. Please shorten it."
    )
    expect(body).to_have_value(too_long)  # what was typed is kept
    expect(page.locator("article.post")).to_have_count(1)

    body.fill("   ")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator("#body-error")).to_have_text("Your post is empty. Write something first.")

    body.fill("Second post")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator("article.post .post-body")).to_have_text(
        ["Second post", "Hello from a real browser <b>not bold</b>"]
    )


def test_sign_out_from_the_nav_bar(site, page, live_server):
    site.sign_in(page, "alice")
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator("li.flash")).to_have_text(["You have been signed out."])  # and nothing else
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Microblog")
    page.goto("/profile/edit")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_sign_out_everywhere_asks_first(site, page, live_server):
    site.sign_in(page, "alice")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_text("Sign out everywhere")).to_have_count(0)
    page.goto("/user/alice")
    page.get_by_role("link", name="Sign out everywhere…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out everywhere?")
    page.get_by_role("link", name="No, go back").click()
    expect(page).to_have_url(live_server.url + "/user/alice")
    expect(page.locator("#logout")).to_be_visible()  # still signed in
    page.get_by_role("link", name="Sign out everywhere…").click()
    page.get_by_role("button", name="Yes, sign out everywhere").click()
    expect(page.locator("li.flash")).to_have_text(["You have been signed out on every device."])
    expect(page.locator("#logout")).to_have_count(0)


def test_keyboard_only_recovery_from_a_bad_address(page):
    page.goto("/login")
    field = page.get_by_role("textbox", name="Your OpenID")
    field.focus()
    page.keyboard.type("http://127.0.0.1:9/nobody")
    page.keyboard.press("Enter")
    expect(page.locator("li.flash.flash-error")).to_contain_text("could not find an OpenID provider")
    expect(field).to_be_focused()
    expect(field).to_have_value("http://127.0.0.1:9/nobody")
    expect(field).to_have_attribute("aria-invalid", "true")


def test_keyboard_only_sign_in(site, page, live_server):
    page.goto("/login")
    summary = page.locator("summary", has_text=LOCAL_PROVIDER)
    for _ in range(20):
        page.keyboard.press("Tab")
        if summary.evaluate("el => el === document.activeElement"):
            break
    expect(summary).to_be_focused()
    outline = summary.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "keyboard focus must be visible"
    page.keyboard.press("Enter")
    username = page.get_by_label(f"Your {LOCAL_PROVIDER} username")
    expect(username).to_be_focused()
    page.keyboard.type("kim")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dev-openid/approve$"))
    approve = page.get_by_role("button", name="Approve")
    for _ in range(10):
        page.keyboard.press("Tab")
        if approve.evaluate("el => el === document.activeElement"):
            break
    expect(approve).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hi, kim!")


def test_escape_closes_the_username_field(page):
    page.goto("/login")
    summary = page.locator("summary", has_text=LOCAL_PROVIDER)
    summary.click()
    page.keyboard.press("Escape")
    expect(page.get_by_label(f"Your {LOCAL_PROVIDER} username")).to_be_hidden()
    expect(summary).to_be_focused()
