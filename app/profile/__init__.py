"""Profile pages: a user's posts, sign-in providers and join date; owners edit theirs."""

from flask import Blueprint

bp = Blueprint("profile", __name__)

from app.profile import views  # noqa: E402,F401  (routes register on bp)
