"""Real-browser fixtures: Debian's Chromium driven by Playwright against the live server.

Every page opened through `site` records console errors, uncaught script errors,
CSP violations and any use of window.prompt; a test fails if any were seen.
"""

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.support.chromium import launch_chromium

LOCAL_PROVIDER = "Local test provider"
# axe-core from npm (tests/browser/axe/package.json), installed by scripts/test.sh with `npm ci`.
AXE_SCRIPT = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

# Injected by DevTools before any page script, so the page's CSP does not apply to it.
WATCHER_SCRIPT = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
window.prompt = function () { console.error("window.prompt was used"); return null; };
"""


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the whole run; each test gets fresh contexts."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


class Site:
    """Browser contexts on the live server whose pages report their problems."""

    def __init__(self, chromium, base_url):
        self.chromium = chromium
        self.base_url = base_url
        self.problems = []
        self.contexts = []

    def new_page(self, storage_state=None, axe=False, **options):
        """A page in a new browser context (a fresh browser profile), watched for problems.

        axe=True loads axe-core into every document before the page's own scripts
        (DevTools injects it, so the page's CSP does not apply), ready for `axe_violations`.
        """
        context = self.chromium.new_context(base_url=self.base_url, storage_state=storage_state, **options)
        context.set_default_timeout(10_000)
        context.add_init_script(WATCHER_SCRIPT)
        if axe:
            assert AXE_SCRIPT.exists(), "axe-core is missing: run `npm ci --prefix tests/browser/axe`"
            context.add_init_script(path=str(AXE_SCRIPT))
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: msg.type == "error" and self.problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
        return page

    def restart_browser(self, page):
        """Close the browser and open it again: only cookies with an expiry survive."""
        state = page.context.storage_state()
        state["cookies"] = [c for c in state["cookies"] if c["expires"] > 0]
        page.context.close()
        return self.new_page(storage_state=state)

    def sign_in(self, page, username, remember=False, **profile):
        """Sign in through the local test provider by clicking and typing, as a person does."""
        page.goto("/login")
        if remember:
            page.get_by_label("Keep me signed in").check()
        page.locator("summary", has_text=LOCAL_PROVIDER).click()
        page.get_by_label(f"Your {LOCAL_PROVIDER} username").fill(username)
        page.locator("details[open]").get_by_role("button", name="Continue").click()
        page.wait_for_url("**/dev-openid/approve")
        for field, value in profile.items():
            page.locator(f"input[name={field}]").fill(value)
        page.get_by_role("button", name="Approve").click()
        page.wait_for_load_state()
        return page

    def close(self):
        for context in self.contexts:
            context.close()


def axe_violations(page, state):
    """Run every axe-core rule on the page as it is now; one line per violation, prefixed with state."""
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{state}: {v['id']} ({v['impact']}) {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in result["violations"]
    ]


@pytest.fixture
def site(chromium, live_server):
    """The live site in Chromium; fails the test on console errors or CSP violations."""
    site = Site(chromium, live_server.url)
    yield site
    site.close()
    assert site.problems == [], "the browser reported problems"


@pytest.fixture
def page(site):
    """A desktop-sized page on the live site."""
    return site.new_page(viewport={"width": 1280, "height": 800})
