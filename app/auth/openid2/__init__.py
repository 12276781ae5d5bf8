"""OpenID 2.0 sign-in: Flask-OpenID consumer, its database store, and the start and answer views."""
