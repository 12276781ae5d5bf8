#!/usr/bin/env bash
# Lint and type-check: ruff (style and bugs), then mypy (settings in pyproject.toml).
# Usage: bash scripts/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/dev-venv.sh

.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .

.venv/bin/python -m mypy
