"""Local OpenID 2.0 and OpenID Connect providers for development and tests, never part of the production app.

`devproviders.mount.mount(site)` serves them beside the site (run.py and the tests do the same);
the site knows them only through its ordinary provider settings (see config.local_provider_settings).
"""
