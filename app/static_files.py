"""Fingerprinted static URLs: /static/style.css?v=<content hash>.

A file's URL changes whenever its content does, so a proxy (see docs/nginx.conf) or a browser
may keep static files for a year without ever serving a stale one after a deploy.
"""

import hashlib
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.security import safe_join

FINGERPRINT_LENGTH = 12


def fingerprint(folder: str, filename: str) -> str | None:
    """The first hex digits of a static file's SHA-256, or None when there is no such file."""
    path = safe_join(folder, filename)
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:FINGERPRINT_LENGTH]


def register_static_fingerprints(app: Flask) -> None:
    """Add ?v=<fingerprint> to every url_for('static', ...); computed once per file (always, in debug).

    Templates write `static_url(filename)` (app.page_urls): the same URL, built once per file and site.
    """
    known: dict[str, str | None] = {}

    @app.url_defaults
    def add_fingerprint(endpoint: str | None, values: dict[str, Any]) -> None:
        filename = values.get("filename")
        if endpoint != "static" or not filename or "v" in values or not app.static_folder:
            return
        if app.debug or filename not in known:
            known[filename] = fingerprint(app.static_folder, filename)
        if known[filename]:
            values["v"] = known[filename]
