"""Sign-in and sign-out blueprint."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import nickname_views, oidc_views, views  # noqa: E402,F401  (routes register on bp)
