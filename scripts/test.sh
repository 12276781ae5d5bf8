#!/usr/bin/env bash
# Set up everything the test suite needs (venv, Python and npm packages, Chromium, nginx), then run it.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/dev-venv.sh

# npm trusts only Node's built-in certificate list; trust the system's too (as pip and git do), so
# that a machine whose registry access goes through a locally trusted certificate works as it is.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
# The independent OpenID Connect provider used by the end-to-end tests (Node.js).
if [ -f tests/oidc/package-lock.json ]; then
  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
fi
# axe-core, injected into every page by the browser tests' accessibility checks.
npm ci --prefix tests/browser/axe --no-audit --no-fund --loglevel=error
# Lighthouse for bench/lighthouse.py (runs on the same Debian Chromium).
npm ci --prefix bench/lighthouse --no-audit --no-fund --loglevel=error

# Debian packages the tests run: Chromium's headless shell for the browser tests (Playwright cannot
# download its own here), the whole Chromium for Lighthouse, nginx for the reverse-proxy test (run as
# the test's own process, never as a service).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/lib/chromium/chromium-headless-shell ] || missing+=(chromium-headless-shell)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

exec .venv/bin/python -m pytest "$@"
