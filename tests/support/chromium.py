"""How this project launches Debian's Chromium under Playwright (tests and the screenshot script)."""

# The whole browser, for Lighthouse (bench/lighthouse.py), which starts Chromium itself.
CHROMIUM = "/usr/bin/chromium"
# Chromium's headless shell (Debian package chromium-headless-shell): the same Blink and V8 without
# the desktop browser around them, as Playwright's own headless default. It renders the same pages
# for far less CPU (the browser tests take about half the CPU seconds they took in /usr/bin/chromium).
# Started directly, not through its /usr/bin wrapper script, to spare a shell process.
HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
# Headless as root needs --no-sandbox; the rest keep Chromium off the (closed) network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# For the tests and screenshots only (Lighthouse measures with the flags above): composite in the
# browser process instead of a GPU process of its own, in software either way. About 8% fewer CPU-s
# per browser file (four A/B pairs on test_journeys and test_layout, same busy machine).
HEADLESS_SHELL_ARGS = [*CHROMIUM_ARGS, "--in-process-gpu"]


def launch_chromium(playwright):
    """Start Chromium's headless shell with the project's flags."""
    return playwright.chromium.launch(executable_path=HEADLESS_SHELL, headless=True, args=HEADLESS_SHELL_ARGS)
