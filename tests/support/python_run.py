"""Run a snippet in a fresh Python process, as a worker or a command would start: what it printed."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_lines(code, env=None):
    """Run code with this interpreter from the repository root (extra env on top of this one's);
    the lines it printed. The test fails, with the child's stderr, if the child does."""
    result = subprocess.run(  # noqa: S603 - this interpreter, the test's own code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()
