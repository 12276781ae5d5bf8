"""Serve the local providers beside the site, on the same host and port (run.py and the tests)."""

from flask import Flask, url_for
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from config import LOCAL_OIDC_NAME
from devproviders import oidc, openid2
from devproviders.common import SiteFacts


def site_facts(site: Flask) -> SiteFacts:
    """What the local providers need to know about the site, read from its configuration."""
    client = site.config["OIDC_PROVIDERS"][LOCAL_OIDC_NAME]
    with site.test_request_context():
        static_url = url_for("static", filename="")
        login_url = url_for("auth.login")
        callback_path = url_for("auth.oidc_callback", provider=LOCAL_OIDC_NAME)
    return SiteFacts(
        secret_key=site.config["SECRET_KEY"],
        static_url=static_url,
        login_url=login_url,
        oidc_client_id=client["client_id"],
        oidc_client_secret=client["client_secret"],
        oidc_issuer=client["issuer"],
        oidc_callback_path=callback_path,
        oidc_key_file=site.config.get("DEV_OIDC_KEY_FILE"),
    )


def mount(site: Flask) -> DispatcherMiddleware:
    """The site at /, the local OpenID 2.0 provider at /dev-openid and OpenID Connect at /dev-oidc.

    The site must have been configured for them (DEV_OPENID_PROVIDER and LOCAL_PROVIDERS_URL).
    """
    if not site.config.get("DEV_OPENID_PROVIDER"):
        raise RuntimeError("the local providers serve only a site with DEV_OPENID_PROVIDER on")
    facts = site_facts(site)
    return DispatcherMiddleware(
        site, {openid2.PREFIX: openid2.create_app(facts), oidc.PREFIX: oidc.create_app(facts)}
    )
