"""URLs in pages: url_for as templates call it, each URL built once per site and arguments.

Flask's url_for costs about 30 K instructions a call (the request's URL adapter, the app's URL
defaults, Werkzeug's builder), and a signed-in page asks it for the same handful of URLs on every
view: about 4% of a cached page's CPU. An endpoint's URL with the same arguments changes only with
the site's root (a proxy's X-Forwarded-Prefix), which is part of the key, and for a
static file with its content (app.static_files fingerprints it once per file; in debug mode, where
files change under a running server, nothing is remembered). Relative endpoints ('.index') and
url_for's own options (_external, _anchor, _scheme, _method) go to Flask every time. At most
REMEMBERED_MAX URLs are kept: the store starts afresh when full, so no visitor can grow it.
"""

from typing import Any

from flask import Flask, has_request_context, request, url_for

REMEMBERED_MAX = 1024


def register_page_urls(app: Flask) -> None:
    """Give templates url_for (remembered) and static_url(filename)."""
    remembered: dict[tuple[Any, ...], str] = {}
    # The host is not part of the key: with neither host matching nor subdomains in the URL map, an
    # endpoint's path does not depend on it (and url_for's _external URLs are never remembered).
    assert not app.url_map.host_matching and not app.subdomain_matching, "the key would need the host"

    def page_url(endpoint: str, **values: Any) -> str:
        """url_for(endpoint, **values), the same URL, built once per site and arguments."""
        if app.debug or endpoint[:1] == "." or not has_request_context():
            return url_for(endpoint, **values)
        if values:
            if any(name[:1] == "_" for name in values):
                return url_for(endpoint, **values)
            key: tuple[Any, ...] = (request.script_root, endpoint, *sorted(values.items()))
        else:
            key = (request.script_root, endpoint)
        try:
            url = remembered.get(key)
        except TypeError:  # an argument that cannot be a key (a list): built every time
            return url_for(endpoint, **values)
        if url is None:
            url = url_for(endpoint, **values)
            if len(remembered) >= REMEMBERED_MAX:
                remembered.clear()
            remembered[key] = url
        return url

    def static_url(filename: str) -> str:
        """The fingerprinted URL of a static file, exactly as url_for("static", filename=...) gives it."""
        return page_url("static", filename=filename)

    app.jinja_env.globals["url_for"] = page_url
    app.add_template_global(static_url)
