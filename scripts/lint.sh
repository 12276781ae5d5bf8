#!/usr/bin/env bash
# Lint and type-check: ruff (style and bugs), then mypy (settings in pyproject.toml).
# Usage: bash scripts/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt

.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .

# Issue 9 adds type hints to app/ and config.py. Until that is finished mypy's findings are
# printed but do not fail the build; MYPY_ENFORCE=1 makes them fail it (the default once typed).
if ! .venv/bin/python -m mypy; then
  if [ "${MYPY_ENFORCE:-0}" = 1 ]; then
    exit 1
  fi
  echo "lint: mypy found problems (reported, not enforced yet: MYPY_ENFORCE=1 enforces them)"
fi
