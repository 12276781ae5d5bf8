"""Layout at phone, tablet and desktop widths with the longest nickname and an unbroken 140-character post."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, Site

WIDTHS = [320, 390, 768, 1280]
LONG_NICKNAME = "w" * 64
UNBROKEN_POST = "W" * 140

# Where the nav's last control ends, where the content column's text ends, and how far the
# nav's controls stray from one row (vertical centres), all in CSS pixels.
GEOMETRY = """() => {
  const nav = document.querySelector('.nav');
  const items = [...nav.children].filter(
    (el) => !el.classList.contains('nav-spacer') && el.getBoundingClientRect().width > 0);
  const box = (el) => (el.querySelector('button') || el).getBoundingClientRect();
  const main = document.querySelector('main.content');
  const centres = items.map((el) => { const r = box(el); return (r.top + r.bottom) / 2; });
  return {
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    navRight: box(items[items.length - 1]).right,
    contentRight: main.getBoundingClientRect().right - parseFloat(getComputedStyle(main).paddingRight),
    rowSpread: Math.max(...centres) - Math.min(...centres),
  };
}"""


def screen(width):
    options = {"viewport": {"width": width, "height": 800}}
    return {**options, "is_mobile": True, "has_touch": True} if width < 700 else options


@pytest.fixture(scope="module")
def live_server(module_live_server):
    """One site for the module: its tests only look at pages, so they share the member made once."""
    return module_live_server


@pytest.fixture(scope="module")
def member_state(chromium, live_server):
    """A signed-in member with the longest nickname who has posted 140 characters without a break."""
    site = Site(chromium, live_server.url)
    page = site.new_page(**DESKTOP)
    site.sign_in(page, "longest", nickname=LONG_NICKNAME)
    page.get_by_role("textbox", name="What’s on your mind?").fill(UNBROKEN_POST)
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator(".post-body")).to_have_text([UNBROKEN_POST])
    state = page.context.storage_state()
    site.close()
    assert site.problems == [], "the browser reported problems"
    return state


def assert_fits(page, where, width):
    geometry = page.evaluate(GEOMETRY)
    assert geometry["overflow"] <= 0, f"{where} scrolls sideways by {geometry['overflow']}px at {width}px"
    assert abs(geometry["navRight"] - geometry["contentRight"]) <= 1, f"{where} at {width}px: {geometry}"
    assert geometry["rowSpread"] <= 2, f"{where}: the nav wraps onto another row at {width}px: {geometry}"


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_signed_in_pages_fit_and_the_nav_lines_up_and_a_141_character_post_is_not_clipped(
    site, member_state, width
):
    """The post box is checked on the home page this walk already opens (the same page, same window)."""
    page = site.new_page(storage_state=member_state, **screen(width))
    for path in ("/", f"/user/{LONG_NICKNAME}", "/profile/edit", "/logout/everywhere", "/no/such/page"):
        page.goto(path)
        expect(page.locator("#logout")).to_be_visible()
        assert_fits(page, path, width)
        if path == "/":
            assert_post_box_shows_141_characters(page, width)
    site.problems[:] = [p for p in site.problems if "status of 404" not in p]


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_visitor_pages_fit_and_sign_in_sits_at_the_right_edge(site, member_state, width):
    page = site.new_page(**screen(width))
    for path in ("/", f"/user/{LONG_NICKNAME}", "/?page=999", "/user/" + "x" * 200):
        page.goto(path)
        expect(page.locator("#nav-sign-in")).to_be_visible()
        assert_fits(page, path, width)
    site.problems[:] = [p for p in site.problems if "status of 404" not in p]


def assert_post_box_shows_141_characters(page, width):
    """A 141-character post typed into the home page's post box is not clipped."""
    body = page.get_by_role("textbox", name="What’s on your mind?")
    body.fill("A post that is one character too long, typed on a phone, words and all, to see " * 2)
    body.fill(body.input_value()[:141])
    clipped = body.evaluate("el => el.scrollHeight - el.clientHeight")
    assert clipped <= 0, f"the post box hides {clipped}px of text at {width}px"
