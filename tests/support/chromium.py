"""How this project launches Debian's Chromium under Playwright (tests and the screenshot script)."""

CHROMIUM = "/usr/bin/chromium"
# Headless as root needs --no-sandbox; the rest keep Chromium off the (closed) network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright):
    """Start headless Chromium with the project's flags."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
