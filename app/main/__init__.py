"""The microblog's own pages."""

from flask import Blueprint

bp = Blueprint("main", __name__)

from app.main import filters, views  # noqa: E402,F401  (routes and template filters register on bp)
