"""The README's Layout table and the tree agree: every path it names exists, every module is in it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def layout_paths():
    """The backticked paths in the first column of the README's Layout table."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Layout") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {path for row in rows for path in re.findall(r"`([^`]+)`", row)}


def test_every_path_the_layout_names_exists():
    paths = layout_paths()
    assert "app/__init__.py" in paths  # the table was found
    assert [path for path in sorted(paths) if not (ROOT / path).exists()] == []


def test_every_module_of_the_app_is_in_the_layout():
    paths = layout_paths()
    folders = [path for path in paths if path.endswith("/")]
    unnamed = [
        str(module.relative_to(ROOT))
        for module in sorted((ROOT / "app").rglob("*.py"))
        if str(module.relative_to(ROOT)) not in paths
        and not any(str(module.relative_to(ROOT)).startswith(folder) for folder in folders)
        and not (module.name == "__init__.py" and module.parent != ROOT / "app")  # a package's face
    ]
    assert unnamed == []
