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

.venv/bin/python -m mypy
