# Sourced by scripts/lint.sh and scripts/test.sh from the repository root: make .venv (with
# $PYTHON, default python3) if it is missing, then install the pinned app and development packages.
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
