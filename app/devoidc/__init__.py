"""A real OpenID Connect provider for development, so both sign-in protocols work with no internet."""

from flask import Blueprint

bp = Blueprint("devoidc", __name__, url_prefix="/dev-oidc")

from app.devoidc import views  # noqa: E402,F401  (routes register on bp)
