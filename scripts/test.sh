#!/usr/bin/env bash
# Set up everything the test suite needs (venv, Python and npm packages, Chromium), then run it.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# The independent OpenID Connect provider used by the end-to-end tests (Node.js).
if [ -f tests/oidc/package-lock.json ]; then
  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
fi
# axe-core, injected into every page by the browser tests' accessibility checks.
npm ci --prefix tests/browser/axe --no-audit --no-fund --loglevel=error
# Lighthouse for bench/lighthouse.py (runs on the same Debian Chromium).
npm ci --prefix bench/lighthouse --no-audit --no-fund --loglevel=error

# Debian's Chromium for the browser tests (Playwright cannot download its own here).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

exec .venv/bin/python -m pytest "$@"
