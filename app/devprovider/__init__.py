"""A real OpenID 2.0 provider for development, so sign-in works with no internet."""

from flask import Blueprint

bp = Blueprint("devprovider", __name__, url_prefix="/dev-openid")

from app.devprovider import views  # noqa: E402,F401  (routes register on bp)
