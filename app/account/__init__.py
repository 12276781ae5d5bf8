"""The account page: sign-in methods, devices, security history, export and deletion."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from app.account import views  # noqa: E402,F401  (routes register on bp)
